package main

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// clusterCycles runs the cycle on a Redis Cluster of three primaries and
// says what each node spends per cycle. A state's keys live in its own
// slot, so the sign-ins spread over the shards; the byte budget's
// accounts live in one slot, {accounts}, so one node pays for every
// cycle: that node, not the number of shards, bounds a Cluster's rate.
func clusterCycles(procs *procList, dir, script string) error {
	nodes, err := procs.startCluster(dir, 3)
	if err != nil {
		return err
	}
	addr, pid, err := procs.startServiceWithPID(map[string]string{"OAUTH_CALLBACK_REDIS_CLUSTER_ADDRS": strings.Join(nodes, ",")})
	if err != nil {
		return err
	}
	slot, err := redisCmd(nodes[0], "CLUSTER", "KEYSLOT", "oauth-callback:{accounts}:bytes")
	if err != nil {
		return err
	}
	service := target{"service on Cluster", addr, cpuMeter{pid: pid}}
	perNode := make([][]float64, len(nodes))
	var serviceCPU, rates []float64
	for round := range *rounds {
		before := make([]float64, len(nodes))
		for i, n := range nodes {
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
		for i, n := range nodes {
			after, err := redisCPU(n)
			if err != nil {
				return err
			}
			perNode[i] = append(perNode[i], 2e6*(after-before[i])/r.requests)
		}
		s, _ := r.cpuPer()
		serviceCPU = append(serviceCPU, 2*s)
		rates = append(rates, r.rps/2)
	}
	id := func(f float64) float64 { return f }
	fmt.Printf("\n## Cycle on Redis Cluster, three primaries, one replica of the service (wrk -t%d -c%d -d%s, %d rounds, medians)\n\n", *threads, *connections, *duration, *rounds)
	fmt.Printf("%.0f cycles/s; the service's CPU per cycle: %.0f µs.\n\n", medianBy(rates, id), medianBy(serviceCPU, id))
	fmt.Println("| node | holds {accounts} | Redis CPU per cycle (all cycles) |")
	fmt.Println("|---|---|---|")
	for i, n := range nodes {
		holds, err := holdsSlot(n, slot)
		if err != nil {
			return err
		}
		mark := ""
		if holds {
			mark = "yes"
		}
		fmt.Printf("| %s | %s | %.0f µs |\n", n, mark, medianBy(perNode[i], id))
	}
	fmt.Println("\nA node holding no {accounts} spends its CPU on the third of the states it holds; the one holding it spends that and the accounts of every cycle.")
	return nil
}

// holdsSlot reports whether the node at addr serves slot.
func holdsSlot(addr, slot string) (bool, error) {
	out, err := redisCmd(addr, "CLUSTER", "COUNTKEYSINSLOT", slot)
	if err != nil {
		return false, err
	}
	// Each node counts its own keys: after a run, only the slot's owner
	// has any.
	return out != "0", nil
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
