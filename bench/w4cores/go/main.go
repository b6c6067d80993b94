// W4 on every core: the peers' Go echo server (a goroutine per connection)
// with GOMAXPROCS left at the number of cores (bench/w4_cores.sh sets it).
// Usage: w4cores-go PORT LIFETIME_S. Prints "READY <pid>".
package main

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"time"
)

func handle(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 65536)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func main() {
	port, lifetime := 9101, 60
	if len(os.Args) > 1 {
		port, _ = strconv.Atoi(os.Args[1])
	}
	if len(os.Args) > 2 {
		lifetime, _ = strconv.Atoi(os.Args[2])
	}
	ln, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		panic(err)
	}
	fmt.Fprintf(os.Stderr, "GOMAXPROCS=%d\n", runtime.GOMAXPROCS(0))
	fmt.Println("READY", os.Getpid())
	go func() {
		time.Sleep(time.Duration(lifetime) * time.Second)
		os.Exit(0)
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			continue
		}
		go handle(c)
	}
}
