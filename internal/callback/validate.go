package callback

import (
	"fmt"
	"unicode/utf8"
)

// Limits on what a callback may carry. They are generous for every provider
// we know (Entra ID codes are 1–2 KiB) and small enough that nobody can make
// the store hold large values.
const (
	MaxStateLength = 512
	MaxCodeLength  = 8 << 10
	MaxValueLength = 8 << 10 // any other parameter, error_description included
	MaxParams      = 32
)

// ValidateState checks a state against RFC 6749, VSCHAR (printable ASCII,
// %x20-7E), and the length rules: at least minLength (the operator's
// OAUTH_CALLBACK_STATE_MIN_LENGTH, 1 at least) and at most 512 characters.
func ValidateState(state string, minLength int) error {
	switch {
	case state == "":
		return fmt.Errorf("state is empty")
	case len(state) < minLength:
		return fmt.Errorf("state is shorter than %d characters", minLength)
	case len(state) > MaxStateLength:
		return fmt.Errorf("state is longer than %d characters", MaxStateLength)
	}
	if i := indexNotVSCHAR(state); i >= 0 {
		return fmt.Errorf("state contains a character that is not printable ASCII at position %d", i)
	}
	return nil
}

// ValidateCode checks an authorization code against RFC 6749 (VSCHAR) and the
// length limit.
func ValidateCode(code string) error {
	if len(code) > MaxCodeLength {
		return fmt.Errorf("code is longer than %d bytes", MaxCodeLength)
	}
	if i := indexNotVSCHAR(code); i >= 0 {
		return fmt.Errorf("code contains a character that is not printable ASCII at position %d", i)
	}
	return nil
}

// ValidateValue checks any other parameter, or a parameter's name: valid
// UTF-8, bounded, and no control character but tab, CR and LF. Line breaks
// are allowed: Entra ID puts them in error_description. The other C0
// controls have no place in a provider's answer, and each would be stored
// as six bytes (\u00XX). Its errors never quote the value.
func ValidateValue(value string) error {
	switch {
	case len(value) > MaxValueLength:
		return fmt.Errorf("longer than %d bytes", MaxValueLength)
	case !utf8.ValidString(value):
		return fmt.Errorf("not valid UTF-8")
	}
	for i := 0; i < len(value); i++ {
		if b := value[i]; b < 0x20 && b != '\t' && b != '\r' && b != '\n' {
			return fmt.Errorf("contains a control character")
		}
	}
	return nil
}

func indexNotVSCHAR(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return i
		}
	}
	return -1
}
