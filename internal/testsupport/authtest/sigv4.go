package authtest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"
)

// SigV4QuerySignature is the AWS Signature Version 4 signature of a
// presigned GET http://host/?query whose one signed header is host and
// whose body is empty, as ElastiCache and MemoryDB check an IAM token.
// It follows AWS's documented algorithm (IAM User Guide, "Create a signed
// AWS API request": canonical request, string to sign, HMAC key chain)
// and not the SDK's signer, so that what the SDK makes is checked against
// a second reading of the algorithm rather than against itself.
// X-Amz-Signature in query, if any, is left out, as the algorithm says.
func SigV4QuerySignature(secret, host string, query url.Values, region, service string, signed time.Time) string {
	amzDate := signed.UTC().Format("20060102T150405Z")
	day := amzDate[:8]
	keys := make([]string, 0, len(query))
	for k := range query {
		if k != "X-Amz-Signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var pairs []string
	for _, k := range keys {
		values := append([]string(nil), query[k]...)
		sort.Strings(values)
		for _, v := range values {
			pairs = append(pairs, uriEncode(k)+"="+uriEncode(v))
		}
	}
	emptyBody := sha256.Sum256(nil)
	canonicalRequest := strings.Join([]string{
		"GET",
		"/",
		strings.Join(pairs, "&"),
		"host:" + host + "\n",
		"host",
		hex.EncodeToString(emptyBody[:]),
	}, "\n")
	scope := fmt.Sprintf("%s/%s/%s/aws4_request", day, region, service)
	hashed := sha256.Sum256([]byte(canonicalRequest))
	stringToSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(hashed[:])
	key := hmacSHA256([]byte("AWS4"+secret), day)
	key = hmacSHA256(key, region)
	key = hmacSHA256(key, service)
	key = hmacSHA256(key, "aws4_request")
	return hex.EncodeToString(hmacSHA256(key, stringToSign))
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// uriEncode is SigV4's URI encoding: every byte but A-Z, a-z, 0-9, '-',
// '.', '_' and '~' as %XX in upper case (a space is %20, never '+').
func uriEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
