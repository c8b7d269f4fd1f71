package chaos

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/redistest"
)

// A condition says what keeps it from holding ("" when it holds): a wait
// that gives up can then say what it saw.
type condition func() (missing string)

// waitUntil polls cond until it holds or within has passed, and returns
// what it last saw missing ("" when it held) and how long it waited.
func waitUntil(within time.Duration, cond condition) (missing string, waited time.Duration) {
	start := time.Now()
	for {
		missing = cond()
		if missing == "" || time.Since(start) >= within {
			return missing, time.Since(start)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// redisHealthy: Redis serves, and has recovered from every fault. On
// Sentinel, every Sentinel names the same primary and none is failing it
// over or in TILT mode, and the other server replicates it with its link
// up and no sync under way (so WAIT is answered, and the service's
// clients, which ask the Sentinels, all reach the primary). On Cluster,
// every node answers and says cluster_state:ok, and every replica's link
// is up.
func (s *system) redisHealthy() (missing string) {
	if s.cluster != nil {
		return s.clusterHealthy()
	}
	return s.sentinelHealthy(false)
}

// redisSettled is redisHealthy and, on Sentinel, every Sentinel sees the
// replica as the primary's, up: a failover asked now has a replica to
// promote, and no Sentinel undoes it. The nemesis waits for it before a
// failover.
func (s *system) redisSettled() (missing string) {
	if s.cluster != nil {
		return s.clusterHealthy()
	}
	return s.sentinelHealthy(true)
}

func (s *system) sentinelHealthy(forFailover bool) string {
	rs := s.sentinel
	var named []string
	for _, sen := range rs.Sentinels {
		// In TILT mode (its timer ran late: a stalled machine) a Sentinel
		// acts on nothing for 30 s, a failover included.
		info, err := redisCLI(sen.Port, "INFO", "sentinel")
		if err != nil {
			return fmt.Sprintf("Sentinel %s does not answer (%v)", sen.Addr, err)
		}
		if tilt := fieldOf(info, "sentinel_tilt"); tilt != "0" {
			return fmt.Sprintf("Sentinel %s is in TILT mode (sentinel_tilt:%s)", sen.Addr, tilt)
		}
		out, err := redisCLI(sen.Port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", rs.Master)
		if err != nil {
			return fmt.Sprintf("Sentinel %s does not answer (%v)", sen.Addr, err)
		}
		named = append(named, strings.Join(strings.Fields(out), ":"))
	}
	for _, addr := range named[1:] {
		if addr != named[0] {
			return "the Sentinels name different primaries: " + strings.Join(named, ", ")
		}
	}
	var primary, replica *redistest.Server
	for _, srv := range append([]*redistest.Server{rs.Primary}, rs.Replicas...) {
		if srv.Addr == named[0] {
			primary = srv
		} else {
			replica = srv
		}
	}
	if primary == nil {
		return "the Sentinels name " + named[0] + ", which is none of the run's servers"
	}
	for _, sen := range rs.Sentinels {
		master, err := redisCLI(sen.Port, "SENTINEL", "MASTER", rs.Master)
		if err != nil {
			return fmt.Sprintf("Sentinel %s does not answer (%v)", sen.Addr, err)
		}
		if flags := fieldOf(master, "flags"); flags != "master" {
			return fmt.Sprintf("Sentinel %s sees the primary %s as %q (a failover under way, or it is down)", sen.Addr, primary.Addr, flags)
		}
		if !forFailover {
			continue
		}
		replicas, err := redisCLI(sen.Port, "SENTINEL", "REPLICAS", rs.Master)
		if err != nil {
			return fmt.Sprintf("Sentinel %s does not answer (%v)", sen.Addr, err)
		}
		// A Sentinel reads a replica's INFO every 10 s. One that last read
		// the old primary's before it was turned into a replica still
		// takes it for a primary, and turns it into a replica again when
		// another Sentinel's failover promotes it: that failover then
		// aborts (-failover-abort-slave-timeout).
		view := replicaView(replicas, replica.Port)
		if flags, role, of := fieldOf(view, "flags"), fieldOf(view, "role-reported"), fieldOf(view, "master-port"); flags != "slave" || role != "slave" || of != strconv.Itoa(primary.Port) {
			return fmt.Sprintf("Sentinel %s sees the replica %s as %q, reporting the role %q, of port %q", sen.Addr, replica.Addr, flags, role, of)
		}
	}
	pInfo, err := redisCLI(primary.Port, "INFO", "replication")
	if err != nil {
		return fmt.Sprintf("the primary %s does not answer (%v)", primary.Addr, err)
	}
	if fieldOf(pInfo, "role") != "master" || fieldOf(pInfo, "connected_slaves") != "1" {
		return fmt.Sprintf("the primary %s: role %s, connected replicas %s", primary.Addr, fieldOf(pInfo, "role"), fieldOf(pInfo, "connected_slaves"))
	}
	rInfo, err := redisCLI(replica.Port, "INFO", "replication")
	if err != nil {
		return fmt.Sprintf("the replica %s does not answer (%v)", replica.Addr, err)
	}
	if fieldOf(rInfo, "master_port") != strconv.Itoa(primary.Port) || fieldOf(rInfo, "master_link_status") != "up" || fieldOf(rInfo, "master_sync_in_progress") != "0" {
		return fmt.Sprintf("the replica %s: role %s, of port %s, link %s, sync in progress %s", replica.Addr,
			fieldOf(rInfo, "role"), fieldOf(rInfo, "master_port"), fieldOf(rInfo, "master_link_status"), fieldOf(rInfo, "master_sync_in_progress"))
	}
	return ""
}

func (s *system) clusterHealthy() string {
	for _, node := range s.cluster.Nodes {
		if !node.Running() {
			return fmt.Sprintf("node %s is not running", node.Addr)
		}
		info, err := redisCLI(node.Port, "CLUSTER", "INFO")
		if err != nil {
			return fmt.Sprintf("node %s does not answer (%v)", node.Addr, err)
		}
		if state := fieldOf(info, "cluster_state"); state != "ok" {
			return fmt.Sprintf("node %s says cluster_state:%s", node.Addr, state)
		}
		repl, err := redisCLI(node.Port, "INFO", "replication")
		if err != nil {
			return fmt.Sprintf("node %s does not answer (%v)", node.Addr, err)
		}
		if fieldOf(repl, "role") != "master" && (fieldOf(repl, "master_link_status") != "up" || fieldOf(repl, "master_sync_in_progress") != "0") {
			return fmt.Sprintf("node %s is a replica with its link %s, sync in progress %s", node.Addr, fieldOf(repl, "master_link_status"), fieldOf(repl, "master_sync_in_progress"))
		}
	}
	return ""
}

// fieldOf is a field of an INFO answer (name:value lines), or of a
// Sentinel's answer as redis-cli prints it (a name line, its value on the
// next); "" when absent.
func fieldOf(out, name string) string {
	lines := strings.Split(out, "\n")
	for i, line := range lines {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return v
		}
		if line == name && i+1 < len(lines) {
			return strings.TrimSpace(lines[i+1])
		}
	}
	return ""
}

// replicaView is what a Sentinel's SENTINEL REPLICAS answer says of the
// replica on port ("" when it does not list it).
func replicaView(out string, port int) string {
	// One replica is a block of name/value lines; the blocks follow each
	// other, each starting with "name".
	for _, block := range strings.Split(out, "\nname\n") {
		if fieldOf(block, "port") == strconv.Itoa(port) {
			return block
		}
	}
	return ""
}

// replicasReady: every replica of the service runs (not stopped by a
// SIGSTOP left behind) and answers /readyz with 200.
func (s *system) replicasReady() string {
	for _, r := range s.replicas {
		if missing := r.ready(); missing != "" {
			return missing
		}
	}
	return ""
}

func (r *replica) ready() string {
	if state := r.processState(); state != "running" {
		return fmt.Sprintf("replica %d is %s", r.index, state)
	}
	client := &http.Client{Timeout: 2 * time.Second} // a socket the driver holds accepts whether or not anyone serves it
	resp, err := client.Get(r.base + "/readyz")
	if err != nil {
		return fmt.Sprintf("replica %d: /readyz: %v", r.index, err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 500))
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("replica %d: /readyz answered %d %s", r.index, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return ""
}

// processState is "running", "stopped (SIGSTOP)", "not started" or
// "exited", from /proc: a replica paused or gone says so instead of
// timing out.
func (r *replica) processState() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return "not started"
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", r.cmd.Process.Pid))
	if err != nil {
		return "exited"
	}
	// pid (comm) state ...: the state follows the last ')'.
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	switch {
	case len(fields) == 0:
		return "of unknown state"
	case fields[0] == "T" || fields[0] == "t":
		return "stopped (SIGSTOP)"
	case fields[0] == "Z" || fields[0] == "X":
		return "exited"
	}
	return "running"
}
