package activation

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// The socket must sit at file descriptor 3 of a process that starts, so each
// case runs this test binary again as a child: TestMain's child branch
// calls Listener and reports what it got.
func TestMain(m *testing.M) {
	if os.Getenv("ACTIVATION_CHILD") == "1" {
		ln, err := Listener(os.Getenv)
		switch {
		case err != nil:
			fmt.Print("error: ", err)
		case ln == nil:
			fmt.Print("none")
		default:
			c, err := ln.Accept()
			if err != nil {
				fmt.Print("accept: ", err)
				os.Exit(1)
			}
			_, _ = c.Write([]byte("hello from the child"))
			_ = c.Close()
			fmt.Print("served ", ln.Addr())
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// skipShort skips under -short: each case runs a child process.
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: runs the test binary again as a child")
	}
}

func child(t *testing.T, fd3 *os.File, env ...string) string {
	t.Helper()
	// #nosec G204 -- this test binary, run again.
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{"ACTIVATION_CHILD=1"}, env...)...)
	if fd3 != nil {
		cmd.ExtraFiles = []*os.File{fd3}
	}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	return string(out)
}

func TestTheHandedSocketIsServed(t *testing.T) {
	skipShort(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := make(chan string, 1)
	go func() { got <- child(t, f, "LISTEN_FDS=1") }()
	// The test never accepts on l: the connection can only be the child's.
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := c.Read(buf)
	_ = c.Close()
	if string(buf[:n]) != "hello from the child" {
		t.Errorf("read %q from the handed socket", buf[:n])
	}
	if out := <-got; out != "served "+l.Addr().String() {
		t.Errorf("child: %q", out)
	}
}

func TestNoSocketOrAnotherProcesssSocket(t *testing.T) {
	skipShort(t)
	if out := child(t, nil); out != "none" {
		t.Errorf("without LISTEN_FDS: %q, want none", out)
	}
	// LISTEN_PID names the process the sockets are for: not this child.
	if out := child(t, nil, "LISTEN_FDS=1", "LISTEN_PID="+strconv.Itoa(os.Getpid())); out != "none" {
		t.Errorf("with another process's LISTEN_PID: %q, want none", out)
	}
}

func TestWhatIsNotOneListeningSocketIsRefused(t *testing.T) {
	skipShort(t)
	file, err := os.CreateTemp(t.TempDir(), "not-a-socket")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	bound, err := net.ListenPacket("udp", "127.0.0.1:0") // a socket, but no listener
	if err != nil {
		t.Fatal(err)
	}
	defer bound.Close()
	udp, err := bound.(*net.UDPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	// A TCP socket bound to a port but never listened on: net.FileListener
	// takes it, and only Accept would fail, later.
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	unlistened := os.NewFile(uintptr(fd), "bound, not listening")
	defer unlistened.Close()
	for _, c := range []struct {
		name string
		fd3  *os.File
		env  string
		want string
	}{
		{"two sockets", nil, "LISTEN_FDS=2", "exactly one socket"},
		{"not a number", nil, "LISTEN_FDS=one", "exactly one socket"},
		{"a file", file, "LISTEN_FDS=1", "not a listening socket"},
		{"a UDP socket", udp, "LISTEN_FDS=1", "not a listening socket"},
		{"a TCP socket not listening", unlistened, "LISTEN_FDS=1", "not listening"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := child(t, c.fd3, c.env)
			if !strings.HasPrefix(out, "error: ") || !strings.Contains(out, c.want) {
				t.Errorf("got %q, want an error saying %q", out, c.want)
			}
		})
	}
}
