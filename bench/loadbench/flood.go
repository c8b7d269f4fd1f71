package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// flood is the memory-exhaustion attack of the security review, measured:
// one client, rate limits off, n of the largest callbacks the service
// takes, against each store at its default settings. It reports the
// answers, the service's RSS and Redis's used_memory before and after.
// Run it against an older binary (-bin) to see the same attack without
// the byte budget.
func flood(procs *procList, dir string, n int) error {
	redisAddr, err := procs.startRedis(dir)
	if err != nil {
		return err
	}
	fmt.Printf("## Flood: %d callbacks from one client, rate limits off (%s)\n\n", n, *binPath)
	fmt.Println("| store | callback | answers | service RSS before → after | Redis used_memory before → after |")
	fmt.Println("|---|---|---|---|---|")
	for _, store := range []string{"memory", "redis"} {
		for _, shape := range floodShapes {
			env := map[string]string{}
			if store == "redis" {
				env["OAUTH_CALLBACK_REDIS_URL"] = "redis://" + redisAddr
				env["OAUTH_CALLBACK_REDIS_KEY_PREFIX"] = "flood-" + shape.tag + ":"
			}
			addr, pid, err := procs.startServiceWithPID(env)
			if err != nil {
				return err
			}
			rssBefore, err := rssBytes(pid)
			if err != nil {
				return err
			}
			usedBefore, err := redisUsedMemory(redisAddr)
			if err != nil {
				return err
			}
			answers := map[int]int{}
			client := &http.Client{Timeout: 10 * time.Second}
			for i := range n {
				form := shape.form()
				form.Set("state", fmt.Sprintf("flood-%s-%d-0123456789abcdef0123456789", shape.tag, i))
				resp, err := client.PostForm("http://"+addr+"/callback", form)
				if err != nil {
					return err
				}
				_ = resp.Body.Close()
				answers[resp.StatusCode]++
			}
			time.Sleep(2 * time.Second) // let the memory settle (the sweep, Redis's lazy free)
			rssAfter, err := rssBytes(pid)
			if err != nil {
				return err
			}
			usedAfter, err := redisUsedMemory(redisAddr)
			if err != nil {
				return err
			}
			redisCell := "(not used)"
			if store == "redis" {
				redisCell = fmt.Sprintf("%s → %s", mib(usedBefore), mib(usedAfter))
			}
			fmt.Printf("| %s | %s | %s | %s → %s | %s |\n", store, shape.name, formatAnswers(answers), mib(rssBefore), mib(rssAfter), redisCell)
		}
	}
	fmt.Printf("\nCommand: `make build && go -C bench run ./loadbench -flood %d`\n", n)
	return nil
}

// floodShapes are the callbacks of the flood: the largest form the
// service reads (64 KiB of many parameters full of '<', which JSON's HTML
// escaping used to grow six-fold; now over the per-callback cap), and one
// just under that cap, which is stored.
var floodShapes = []struct {
	name, tag string
	form      func() url.Values
}{
	{"64 KiB form of '<'", "form", func() url.Values {
		f := url.Values{"code": {"c"}}
		for i := range 30 { // 63 000 bytes encoded (%3C), 21 000 characters
			f.Set("p"+strconv.Itoa(i), strings.Repeat("<", 700))
		}
		return f
	}},
	{"16 KiB, under the cap", "cap", func() url.Values {
		return url.Values{"code": {strings.Repeat("<", 5<<10)}, "a": {strings.Repeat("<", 5<<10)}, "b": {strings.Repeat("<", 5<<10+900)}}
	}},
}

func formatAnswers(m map[int]int) string {
	var parts []string
	for _, code := range []int{200, 400, 409, 413, 414, 500, 503} {
		if m[code] > 0 {
			parts = append(parts, fmt.Sprintf("%d× %d", m[code], code))
			delete(m, code)
		}
	}
	for code, k := range m {
		parts = append(parts, fmt.Sprintf("%d× %d", k, code))
	}
	return strings.Join(parts, ", ")
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
