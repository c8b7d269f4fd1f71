//go:build faults

package main

import (
	"errors"
	"net"
	"slices"
	"time"
)

type netConn struct{ net.Conn }

func dial(host string) (netConn, error) {
	c, err := net.Dial("tcp", host)
	return netConn{c}, err
}

// closedWithin reports whether the server closes the connection in time.
func (c netConn) closedWithin(d time.Duration) bool {
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 1024)
	for {
		if _, err := c.Read(buf); err != nil {
			var ne net.Error
			return !(errors.As(err, &ne) && ne.Timeout())
		}
	}
}

func medianOf(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
