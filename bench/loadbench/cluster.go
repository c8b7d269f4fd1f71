package main

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// clusterCycles runs the cycle on a Redis Cluster of three primaries and
// says what each node spends per cycle: the commands it runs (INFO
// commandstats, a script's counted by the commands it runs), its CPU,
// and which of the store's partitions it holds. Every key of a sign-in,
// and the part of the byte budget it counts against, is in its
// partition's slot, and the 16 partitions' slots are spread over the
// slot space (internal/callback/redisstore/layout.go): each node should
// do its share of the partitions' work and no more. Issue 34's target:
// the busiest node's commands per cycle ≤ 1.3× the mean.
func clusterCycles(procs *procList, dir, script string) error {
	nodes, err := procs.startCluster(dir, 3)
	if err != nil {
		return err
	}
	addr, pid, err := procs.startServiceWithPID(map[string]string{"OAUTH_CALLBACK_REDIS_CLUSTER_ADDRS": strings.Join(nodes, ",")})
	if err != nil {
		return err
	}
	service := target{"service on Cluster", addr, cpuMeter{pid: pid}}
	cpuPerCycle := make([][]float64, len(nodes))
	commandsPerCycle := make([][]float64, len(nodes))
	scriptsPerCycle := make([][]float64, len(nodes))
	var serviceCPU, rates []float64
	for round := range *rounds {
		before := make([]float64, len(nodes))
		for i, n := range nodes {
			if _, err := redisCmd(n, "CONFIG", "RESETSTAT"); err != nil {
				return err
			}
			if before[i], err = redisCPU(n); err != nil {
				return err
			}
		}
		r, err := wrkWith(script, service, fmt.Sprintf("k%d-", round), *threads, *connections)
		if err != nil {
			return err
		}
		if r.requests == 0 || r.non2xx > 0 {
			return fmt.Errorf("cycle on Cluster: %.0f answers, %d not 2xx", r.requests, r.non2xx)
		}
		cycles := r.requests / 2
		for i, n := range nodes {
			after, err := redisCPU(n)
			if err != nil {
				return err
			}
			calls, err := commandCalls(n)
			if err != nil {
				return err
			}
			cpuPerCycle[i] = append(cpuPerCycle[i], 1e6*(after-before[i])/cycles)
			commandsPerCycle[i] = append(commandsPerCycle[i], float64(clusterCountedCommands(calls))/cycles)
			scriptsPerCycle[i] = append(scriptsPerCycle[i], float64(calls["evalsha"])/cycles)
		}
		s, _ := r.cpuPer()
		serviceCPU = append(serviceCPU, 2*s)
		rates = append(rates, r.rps/2)
	}
	held, err := partitionsByNode(nodes)
	if err != nil {
		return err
	}

	id := func(f float64) float64 { return f }
	fmt.Printf("\n## Cycle on Redis Cluster, three primaries, one replica of the service (wrk -t%d -c%d -d%s, %d rounds, medians)\n\n", *threads, *connections, *duration, *rounds)
	fmt.Printf("%.0f cycles/s; the service's CPU per cycle: %.0f µs.\n\n", medianBy(rates, id), medianBy(serviceCPU, id))
	fmt.Println("| node | partitions it holds (their slots) | commands per cycle | script calls per cycle | Redis CPU per cycle |")
	fmt.Println("|---|---|---|---|---|")
	var commands []float64
	for i, n := range nodes {
		c := medianBy(commandsPerCycle[i], id)
		commands = append(commands, c)
		fmt.Printf("| %s | %d: %s | %.2f | %.2f | %.0f µs |\n", n, len(held[i]), strings.Join(held[i], ", "), c,
			medianBy(scriptsPerCycle[i], id), medianBy(cpuPerCycle[i], id))
	}
	var total float64
	for _, c := range commands {
		total += c
	}
	mean := total / float64(len(commands))
	busiest := slices.Max(commands) / mean
	verdict := "met"
	if busiest > 1.3 {
		verdict = "missed"
	}
	partitions := 0
	most := 0
	for _, h := range held {
		partitions += len(h)
		most = max(most, len(h))
	}
	fmt.Printf("\nThe busiest node's commands per cycle: %.2f× the mean (%.2f of %.2f; target ≤ 1.3×: %s). "+
		"From the partitions alone: %.2f× (%d of the %d partitions on one node, against %.2f each if they divided evenly). "+
		"All nodes together: %.1f commands per cycle. Commands are `INFO commandstats` over the round less the bench's own "+
		"(`CONFIG`, `INFO`) and the client's `CLUSTER SLOTS` and `PING`s, which follow the clock, not the cycles.\n",
		busiest, slices.Max(commands), mean, verdict,
		float64(most)*float64(len(nodes))/float64(max(partitions, 1)), most, partitions, float64(partitions)/float64(len(nodes)), total)
	return nil
}

// clusterCountedCommands is countedCommands less what the Cluster client
// sends on a timer: CLUSTER SLOTS (its map of slots, every 2 s) and PING
// (the wake-up connections' health checks).
func clusterCountedCommands(calls map[string]int) int {
	n := countedCommands(calls)
	for name, c := range calls {
		if strings.HasPrefix(name, "cluster") || name == "ping" {
			n -= c
		}
	}
	return n
}

// partitionsByNode names, for each node, the partitions whose budget it
// holds after the run (every partition's budget is written by its first
// counted step), as their hash tags with their slots, in slot order.
func partitionsByNode(nodes []string) ([][]string, error) {
	out := make([][]string, len(nodes))
	for i, n := range nodes {
		// Each node answers SCAN with its own keys.
		keys, err := redisCmd(n, "--scan", "--pattern", "oauth-callback:{*}:budget")
		if err != nil {
			return nil, fmt.Errorf("scan %s for the budgets: %w", n, err)
		}
		type partition struct {
			tag  string
			slot int
		}
		var ps []partition
		for _, key := range strings.Fields(keys) {
			open, end := strings.IndexByte(key, '{'), strings.IndexByte(key, '}')
			if open < 0 || end < open {
				continue
			}
			s, err := redisCmd(n, "CLUSTER", "KEYSLOT", key)
			if err != nil {
				return nil, err
			}
			slot, err := strconv.Atoi(s)
			if err != nil {
				return nil, fmt.Errorf("CLUSTER KEYSLOT %s: %q", key, s)
			}
			ps = append(ps, partition{key[open+1 : end], slot})
		}
		slices.SortFunc(ps, func(a, b partition) int { return a.slot - b.slot })
		for _, p := range ps {
			out[i] = append(out[i], fmt.Sprintf("%s (%d)", p.tag, p.slot))
		}
	}
	return out, nil
}

// startCluster starts n redis-server processes in cluster mode, joins them
// into one Cluster of n primaries, and returns their addresses.
func (p *procList) startCluster(dir string, n int) ([]string, error) {
	var addrs []string
	for i := range n {
		addr := freeAddr()
		_, port, _ := net.SplitHostPort(addr)
		_, bus, _ := net.SplitHostPort(freeAddr())
		if err := p.start(nil, "redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--cluster-enabled", "yes", "--cluster-port", bus, "--cluster-config-file", fmt.Sprintf("nodes-%d.conf", i),
			"--dir", dir); err != nil {
			return nil, err
		}
		addrs = append(addrs, addr)
	}
	for _, a := range addrs {
		if err := waitRedis(a); err != nil {
			return nil, err
		}
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	if _, err := redisCmd(addrs[0], append(args, "--cluster-yes")...); err != nil {
		return nil, fmt.Errorf("redis-cli --cluster create: %w", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ok := true
		for _, a := range addrs {
			if info, err := redisCmd(a, "CLUSTER", "INFO"); err != nil || !strings.Contains(info, "cluster_state:ok") {
				ok = false
			}
		}
		if ok {
			return addrs, nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return nil, errors.New("the cluster did not become healthy in 30 s")
}
