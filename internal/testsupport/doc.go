// Package testsupport holds, in its subpackages, what the tests share: the
// store suite, real redis-server processes, sockets, waits, log buffers and
// fakes. No production package imports any of it (TestTheBinaryImportsNoTestSupport).
package testsupport
