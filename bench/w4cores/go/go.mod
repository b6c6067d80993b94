module w4cores

go 1.19
