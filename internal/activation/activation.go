// Package activation takes over a listening socket that the process was
// started with, by systemd's socket-activation protocol (sd_listen_fds(3)):
// LISTEN_FDS=1 and the socket at file descriptor 3. A supervisor that holds
// the socket (systemd, or a test restarting the service on the same port)
// never releases the port, so nothing else can take it in between.
package activation

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
)

// firstFD is SD_LISTEN_FDS_START: the first socket handed over.
const firstFD = 3

// Listener returns the socket handed over, or nil when there is none.
// LISTEN_PID, when set, must be this process (systemd sets it; a parent
// that cannot know its child's PID before it starts leaves it unset).
func Listener(getenv func(string) string) (net.Listener, error) {
	fds := getenv("LISTEN_FDS")
	if fds == "" {
		return nil, nil
	}
	if pid := getenv("LISTEN_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return nil, nil // meant for another process
	}
	if n, err := strconv.Atoi(fds); err != nil || n != 1 {
		return nil, fmt.Errorf("LISTEN_FDS=%q: exactly one socket (at file descriptor 3) is supported", fds)
	}
	f := os.NewFile(firstFD, "LISTEN_FDS socket")
	defer f.Close() // FileListener holds a copy of its own
	ln, err := net.FileListener(f)
	if err == nil {
		err = checkListening(ln)
		if err != nil {
			_ = ln.Close()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("LISTEN_FDS=1: file descriptor 3 is not a listening socket: %w", err)
	}
	return ln, nil
}

// checkListening fails for a socket that was bound but never listened on,
// which net.FileListener accepts and Accept would only refuse later.
func checkListening(ln net.Listener) error {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return errors.New("not a socket")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var accepting int
	var sockErr error
	if err := raw.Control(func(fd uintptr) {
		accepting, sockErr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_ACCEPTCONN)
	}); err != nil {
		return err
	}
	if sockErr != nil {
		return sockErr
	}
	if accepting == 0 {
		return errors.New("not listening")
	}
	return nil
}
