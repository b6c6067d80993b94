module w6

go 1.19
