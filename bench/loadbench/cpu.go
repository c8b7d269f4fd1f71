package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// The CPU a run costs each process, beside its rate. On a shared 2-core VM
// a rate moves with everything else on the machine (the hypervisor's
// steal above all); the CPU time a process spends per request moves less
// (the kernel takes steal out of it), and says where a cycle's time goes:
// the server's own work, and Redis's.

// clockTicks is the kernel's USER_HZ, the unit of /proc/<pid>/stat's
// times: 100 on every Linux architecture Go supports.
const clockTicks = 100

// processCPU is the user + system CPU seconds pid has used.
func processCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; the fields after it do not.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(fields))
	}
	utime, err1 := strconv.ParseFloat(fields[11], 64)
	stime, err2 := strconv.ParseFloat(fields[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %q %q", pid, fields[11], fields[12])
	}
	return (utime + stime) / clockTicks, nil
}

// redisCPU is the CPU seconds redis-server at addr has used (INFO cpu,
// microsecond resolution).
func redisCPU(addr string) (float64, error) {
	info, err := redisCmd(addr, "INFO", "cpu")
	if err != nil {
		return 0, err
	}
	var total float64
	found := 0
	for _, line := range strings.Split(info, "\n") {
		name, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (name == "used_cpu_user" || name == "used_cpu_sys") {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, err
			}
			total += f
			found++
		}
	}
	if found != 2 {
		return 0, fmt.Errorf("INFO cpu of %s: no used_cpu_user/used_cpu_sys", addr)
	}
	return total, nil
}

// machineTimes is /proc/stat's first line: the machine's CPU time in
// ticks, all of it and the part the hypervisor gave to other guests.
type machineTimes struct{ total, steal float64 }

func readMachineTimes() (machineTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineTimes{}, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	fields := strings.Fields(line)
	if len(fields) < 9 || fields[0] != "cpu" {
		return machineTimes{}, fmt.Errorf("/proc/stat: %q", line)
	}
	var t machineTimes
	for i, f := range fields[1:] {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return machineTimes{}, err
		}
		if i < 8 { // user … steal; guest time is counted in user already
			t.total += v
		}
		if i == 7 {
			t.steal = v
		}
	}
	return t, nil
}

// stealShare is the part of the machine's time between a and b that the
// hypervisor gave to other guests.
func stealShare(a, b machineTimes) float64 {
	if b.total <= a.total {
		return 0
	}
	return (b.steal - a.steal) / (b.total - a.total)
}

// cpuMeter reads the CPU of one server process and, if it uses one, of
// its Redis, before and after a run.
type cpuMeter struct {
	pid       int
	redisAddr string // "" : the server uses no Redis
}

type cpuReading struct {
	server, redis float64
	machine       machineTimes
}

func (m cpuMeter) read() (cpuReading, error) {
	var r cpuReading
	var err error
	if m.pid == 0 {
		return r, nil
	}
	if r.server, err = processCPU(m.pid); err != nil {
		return r, err
	}
	if m.redisAddr != "" {
		if r.redis, err = redisCPU(m.redisAddr); err != nil {
			return r, err
		}
	}
	r.machine, err = readMachineTimes()
	return r, err
}

// medianCPU is the median over rounds of the server's and its Redis's CPU
// per operation (perOp answers), in microseconds.
func medianCPU(rs []wrkResult, perOp float64) (server, redis float64) {
	var servers, redises []float64
	for _, r := range rs {
		s, rd := r.cpuPer()
		servers, redises = append(servers, perOp*s), append(redises, perOp*rd)
	}
	return medianBy(servers, func(f float64) float64 { return f }), medianBy(redises, func(f float64) float64 { return f })
}

// printRates prints one table row per target: its rate (operations of
// perOp answers each, named unit), the rate of every round, the non-2xx
// answers, the ratio to the first target, and the CPU per operation of
// the server and of its Redis; then the machine's steal.
func printRates(results [][]wrkResult, targets []target, unit string, perOp float64) {
	fmt.Printf("| server | %s/s, median (rounds) | non-2xx | ratio to bare | server CPU per op | Redis CPU per op |\n", unit)
	fmt.Println("|---|---|---|---|---|---|")
	bare := median(results[0])
	var steals []float64
	for i, tg := range targets {
		m := median(results[i])
		non2xx := 0
		var rounds []string
		for _, r := range results[i] {
			non2xx += r.non2xx
			rounds = append(rounds, fmt.Sprintf("%.0f", r.rps/perOp))
			steals = append(steals, r.steal)
		}
		server, redis := medianCPU(results[i], perOp)
		redisCol := "–"
		if tg.cpu.redisAddr != "" {
			redisCol = fmt.Sprintf("%.0f µs", redis)
		}
		fmt.Printf("| %s | %.0f (%s) | %d | %.2f× | %.0f µs | %s |\n", tg.name, m.rps/perOp, strings.Join(rounds, ", "), non2xx, m.rps/bare.rps, server, redisCol)
	}
	fmt.Printf("\nCPU per op: user + system time of the server process (/proc/<pid>/stat) and of redis-server (INFO cpu) over the round, per %s; median round. "+
		"The hypervisor took %.0f %% of the machine's time during these runs (steal, /proc/stat, median round): rates move with it, CPU per op less (the kernel takes steal out of it; other guests still slow its caches): compare rows of one run.\n",
		strings.TrimSuffix(unit, "s"), 100*medianBy(steals, func(f float64) float64 { return f }))
}

// versus compares the service's results with the least-work reference's:
// the ratio of rates, and of the CPU one operation costs the server and
// Redis together (what the rate ratio would be on a machine where CPU
// alone decided).
func versus(service, least []wrkResult, perOp float64) string {
	ls, lr := medianCPU(least, perOp)
	ss, sr := medianCPU(service, perOp)
	return fmt.Sprintf("%.2f× the rate; CPU per op, server + Redis: least work %.0f + %.0f µs, service %.0f + %.0f µs: %.2f×",
		median(service).rps/median(least).rps, ls, lr, ss, sr, (ls+lr)/(ss+sr))
}
