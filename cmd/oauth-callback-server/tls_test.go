package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oauth-callback-server/oauth-callback-server/internal/testsupport/redistest"
)

// certs makes a CA, a server certificate for 127.0.0.1 and a client
// certificate, as PEM files in dir.
func certs(t *testing.T, dir string) (ca, serverCert, serverKey, clientCert, clientKey string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	write := func(name, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	leaf := func(serial int64, usage x509.ExtKeyUsage, name string) (string, string) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, _ := x509.MarshalECPrivateKey(key)
		return write(name+".crt", "CERTIFICATE", der), write(name+".key", "EC PRIVATE KEY", keyDER)
	}
	ca = write("ca.crt", "CERTIFICATE", caDER)
	serverCert, serverKey = leaf(2, x509.ExtKeyUsageServerAuth, "server")
	clientCert, clientKey = leaf(3, x509.ExtKeyUsageClientAuth, "client")
	return
}

// TestRedisOverTLSWithACL: rediss:// with a custom CA, a client certificate
// and an ACL user, against a real redis-server that requires all three.
func TestRedisOverTLSWithACL(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, serverCert, serverKey, clientCert, clientKey := certs(t, dir)
	redis := redistest.StartWith(t, func(_ string, port int) []string {
		return []string{"--port", "0", "--tls-port", strconv.Itoa(port),
			"--tls-cert-file", serverCert, "--tls-key-file", serverKey, "--tls-ca-cert-file", ca,
			"--tls-auth-clients", "yes",
			"--user", "default", "off", "--user", "app", "on", ">app-password-123", "~*", "&*", "+@all"}
	})
	env := map[string]string{
		"OAUTH_CALLBACK_REDIS_URL":           "rediss://" + redis.Addr,
		"OAUTH_CALLBACK_REDIS_USERNAME":      "app",
		"OAUTH_CALLBACK_REDIS_PASSWORD":      "app-password-123",
		"OAUTH_CALLBACK_REDIS_TLS_CA_FILE":   ca,
		"OAUTH_CALLBACK_REDIS_TLS_CERT_FILE": clientCert,
		"OAUTH_CALLBACK_REDIS_TLS_KEY_FILE":  clientKey,
	}
	inst := startInstance(t, env)
	client := &http.Client{Timeout: 5 * time.Second}
	if code, _, err := get(client, inst.URL+"/callback?code=tls-code&state=over-tls"); err != nil || code != 200 {
		t.Fatalf("callback over TLS: %d %v", code, err)
	}
	if code, body, err := get(client, inst.URL+"/api/callback/over-tls"); err != nil || code != 200 || !strings.Contains(body, "tls-code") {
		t.Fatalf("take over TLS: %d %v %s", code, err, body)
	}

	// A wrong password is a refusal, not an outage: start-up stops at once
	// with a message, instead of waiting for Redis.
	env["OAUTH_CALLBACK_REDIS_PASSWORD"] = "wrong-password"
	env["OAUTH_CALLBACK_PORT"] = "0"
	start := time.Now()
	err := run(context.Background(), []string{"x"}, environOf(env), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("wrong password: %v", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("a refused password took %v to report", took)
	}
}
