// W6 peer: Go net/http (standard library only). 1,000 GETs at concurrency
// 100 through one Client whose pool keeps 100 idle connections per host.
//
//	go run . URL [REQUESTS] [CONCURRENCY]
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	url := os.Args[1]
	n, c := 1000, 100
	if len(os.Args) > 2 {
		n, _ = strconv.Atoi(os.Args[2])
	}
	if len(os.Args) > 3 {
		c, _ = strconv.Atoi(os.Args[3])
	}
	tr := &http.Transport{MaxIdleConns: c, MaxIdleConnsPerHost: c, MaxConnsPerHost: c}
	client := &http.Client{Transport: tr}
	var left int64 = int64(n)
	var done int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := 0; i < c; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for atomic.AddInt64(&left, -1) >= 0 {
				resp, err := client.Get(url)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					atomic.AddInt64(&done, 1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0).Seconds()
	if done != int64(n) {
		fmt.Fprintf(os.Stderr, "go: %d/%d ok\n", done, n)
		os.Exit(1)
	}
	fmt.Printf("INFO %d requests, concurrency %d, %.3f s\n", n, c, elapsed)
	fmt.Printf("METRIC %.0f req/s\n", float64(n)/elapsed)
}
