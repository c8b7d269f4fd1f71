//go:build linux

package e2e

// The READMEs' steps as a newcomer takes them, run as written: `make run`
// in a terminal with the README's curl session, then Ctrl-C; and the Go
// client's README, from installing the unpublished module to its example
// against the service.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/testnet"
)

// makeRunAddress is where the READMEs' commands reach `make run`; the tests
// run the service on a socket of their own and put its address there.
const makeRunAddress = "http://localhost:8000"

// shBlocks is the ```sh blocks under each ## heading of a Markdown file,
// each a list of commands (a line ending in a backslash continues on the
// next).
func shBlocks(t *testing.T, path string) map[string][][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][][]string{}
	heading := ""
	inBlock := false
	var block []string
	for _, line := range strings.Split(strings.ReplaceAll(string(b), "\\\n", ""), "\n") {
		switch {
		case !inBlock && strings.HasPrefix(line, "## "):
			heading = strings.TrimSpace(line[3:])
		case !inBlock && line == "```sh":
			inBlock, block = true, nil
		case inBlock && line == "```":
			inBlock = false
			out[heading] = append(out[heading], block)
		case inBlock && strings.TrimSpace(line) != "":
			block = append(block, strings.Join(strings.Fields(line), " "))
		}
	}
	return out
}

// sh runs one README command as a user's shell would, in dir.
func sh(t *testing.T, dir, command string, env ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("sh", "-c", command)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// The Go client's Install lines, in a module of a user's own, with the
// network off (GOPROXY=off): they must make its import resolve, and the
// README's example must build there.
func TestGoClientREADMEInstallsTheUnpublishedModule(t *testing.T) {
	root := repoRoot(t)
	install := shBlocks(t, filepath.Join(root, "clients", "go", "README.md"))["Install"]
	if len(install) != 1 {
		t.Fatalf("clients/go/README.md: want one ```sh block under ## Install, have %d", len(install))
	}
	mod := t.TempDir()
	offline := []string{"GOPROXY=off", "GOFLAGS=-mod=mod", "GOWORK=off"}
	if out, err := sh(t, mod, "go mod init example.com/mcp-server", offline...); err != nil {
		t.Fatalf("go mod init: %v\n%s", err, out)
	}
	for _, command := range install[0] {
		command = strings.ReplaceAll(command, "/path/to/oauth-callback-server", root)
		if out, err := sh(t, mod, command, offline...); err != nil {
			t.Fatalf("README's `%s`: %v\n%s", command, err, out)
		}
	}
	example, err := os.ReadFile(filepath.Join(root, "clients", "go", "examples", "signin", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mod, "main.go"), example, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := sh(t, mod, "go build -o /dev/null .", offline...); err != nil {
		t.Fatalf("the example does not build in a module that followed the README: %v\n%s", err, out)
	}
}

// The Go client's example, by the README's command, against the service
// as `make run` starts it.
func TestGoClientREADMEExampleSignsIn(t *testing.T) {
	root := repoRoot(t)
	blocks := shBlocks(t, filepath.Join(root, "clients", "go", "README.md"))["Example"]
	if len(blocks) != 1 || len(blocks[0]) != 1 {
		t.Fatalf("clients/go/README.md: want one command under ## Example, have %q", blocks)
	}
	base := startReplica(t, buildService(t))
	out, err := sh(t, root, blocks[0][0], "CALLBACK_SERVICE_URL="+base)
	if err != nil {
		t.Fatalf("README's `%s`: %v\n%s", blocks[0][0], err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if lines[len(lines)-1] != "signed in" || !strings.Contains(out, "MCP server: got code made-up-code-") {
		t.Errorf("README's `%s` said:\n%s", blocks[0][0], out)
	}
}

// `make run` in a terminal, as the README says, with the README's curl
// session against it; then Ctrl-C, which the terminal sends to make's
// whole process group. It must say what the first build does before it
// starts it, and end quietly: no "make: *** [run] Interrupt" after the
// service's clean stop.
func TestMakeRunInATerminal(t *testing.T) {
	root := repoRoot(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "make run ") {
		t.Fatal("README.md no longer says make run")
	}
	session := tryIt(t, string(readme))

	terminal, tty := openPTY(t)
	l := testnet.Listen(t)
	sock := testnet.File(t, l)
	cmd := exec.Command("make", "run")
	cmd.Dir = root
	// The service on the test's socket (socket activation), not on :8000;
	// none of the test run's make settings (their jobserver descriptors
	// would be this socket).
	cmd.Env = []string{"LISTEN_FDS=1"}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "OAUTH_CALLBACK_") && !strings.HasPrefix(name, "MAKE") && name != "MFLAGS" && name != "LISTEN_PID" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.ExtraFiles = []*os.File{sock}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	// A session of its own with the terminal as its controlling terminal:
	// make is the terminal's foreground process group, as in a shell.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_ = sock.Close()
	_ = tty.Close() // the terminal ends (EIO) when make and the service have closed it
	var screen bytes.Buffer
	copied := make(chan struct{})
	go func() {
		_, _ = io.Copy(&screen, terminal)
		close(copied)
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})

	base := testnet.URL(l)
	testnet.WaitReady(t, base, 10*time.Minute) // a cold first build takes minutes
	for _, step := range session {
		command := strings.ReplaceAll(step.command, makeRunAddress, base)
		out, err := sh(t, root, command)
		if err != nil || !strings.HasPrefix(out, step.want) {
			t.Errorf("README's `%s`: %v, printed %q, want it to start %q", step.command, err, out, step.want)
		}
	}

	if _, err := terminal.Write([]byte{0x03}); err != nil { // Ctrl-C
		t.Fatal(err)
	}
	err = <-exited
	<-copied
	out := strings.ReplaceAll(screen.String(), "\r\n", "\n")
	t.Logf("the terminal:\n%s", out)

	// make dies of the SIGINT it got too, once the service has stopped:
	// how any program ended by Ctrl-C ends, which a shell shows as nothing.
	var exit *exec.ExitError
	interrupted := errors.As(err, &exit) && exit.Sys().(syscall.WaitStatus).Signal() == syscall.SIGINT
	if err != nil && !interrupted {
		t.Errorf("make run ended with %v, want exit 0 or SIGINT", err)
	}
	if strings.Contains(out, "make: ***") {
		t.Error("make reported an error or an interrupt after the service's clean stop")
	}
	if !regexp.MustCompile(`(?m)msg=stopped$`).MatchString(out) {
		t.Error("the service did not log its clean stop")
	}
	announced := strings.Index(out, "Building bin/oauth-callback-server: a few minutes the first time")
	built := strings.Index(out, "go build")
	if announced < 0 || built < 0 || announced > built {
		t.Error("make run does not say what its build does, and how long it takes, before the build")
	}
}

type tryItStep struct{ command, want string }

// tryIt is the README's curl session for make run: each curl line, and the
// start of what its comment says it prints (up to a "...").
func tryIt(t *testing.T, readme string) []tryItStep {
	t.Helper()
	_, after, ok := strings.Cut(readme, "Try it:\n\n```sh\n")
	block, _, closed := strings.Cut(after, "```")
	if !ok || !closed {
		t.Fatal("README.md has no ```sh block after \"Try it:\"")
	}
	var steps []tryItStep
	for _, line := range strings.Split(strings.TrimSpace(block), "\n") {
		command, comment, _ := strings.Cut(line, "#")
		want := strings.TrimSpace(comment)
		if _, body, ok := strings.Cut(want, " "); ok && strings.HasPrefix(body, "{") {
			want, _, _ = strings.Cut(body, "...") // the status code is not printed, the body is
		} else {
			want = ""
		}
		steps = append(steps, tryItStep{strings.TrimSpace(command), want})
	}
	if len(steps) == 0 {
		t.Fatal("README.md's Try it block is empty")
	}
	return steps
}

// openPTY is a new pseudo-terminal: the test's end, and the terminal for
// the child.
func openPTY(t *testing.T) (terminal, tty *os.File) {
	t.Helper()
	terminal, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { _ = terminal.Close() })
	ioctl := func(req uintptr, arg unsafe.Pointer) {
		t.Helper()
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, terminal.Fd(), req, uintptr(arg)); e != 0 {
			t.Fatalf("ioctl %#x: %v", req, e)
		}
	}
	var unlock int32
	ioctl(syscall.TIOCSPTLCK, unsafe.Pointer(&unlock))
	var n uint32
	ioctl(syscall.TIOCGPTN, unsafe.Pointer(&n))
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return terminal, tty
}
