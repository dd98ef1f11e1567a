package consent

import (
	"context"
	"strings"
)

// IIN is a 12-digit individual identification number.
type IIN string

// Errors of ParseIIN and ParsePhone.
var (
	ErrIINFormat = newError(KindInvalid, "err_iin_format", "an IIN is 12 digits")
	ErrIINCheck  = newError(KindInvalid, "err_iin_check", "the IIN's check digit is wrong")
	ErrPhone     = newError(KindInvalid, "err_phone", "a phone number is +7 7XX XXX XX XX")
)

// ParseIIN checks format and check digit: digits 1..11 weighted 1..11, mod
// 11; when that is 10, weighted 3..11,1,2; when that is 10 too, invalid.
func ParseIIN(s string) (IIN, error) {
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, s)
	if len(s) != 12 {
		return "", ErrIINFormat
	}
	var d [12]int
	for i, r := range s {
		if r < '0' || r > '9' {
			return "", ErrIINFormat
		}
		d[i] = int(r - '0')
	}
	sum := func(weights [11]int) int {
		t := 0
		for i, w := range weights {
			t += d[i] * w
		}
		return t % 11
	}
	c := sum([11]int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})
	if c == 10 {
		c = sum([11]int{3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2})
	}
	if c == 10 || c != d[11] {
		return "", ErrIINCheck
	}
	return IIN(s), nil
}

// Masked shows the IIN as it may appear in logs and pages: the first six
// digits (a birth date) and the rest hidden.
func (n IIN) Masked() string {
	if len(n) != 12 {
		return "************"
	}
	return string(n[:6]) + "******"
}

// Phone is a Kazakh mobile number in E.164: +77XXXXXXXXX.
type Phone string

// ParsePhone accepts +7 7XX…, 8 7XX… and 7 7XX… with spaces, dashes and
// brackets, and returns the E.164 form.
func ParsePhone(s string) (Phone, error) {
	var digits []byte
	plus := false
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits = append(digits, byte(r))
		case r == '+' && len(digits) == 0 && !plus:
			plus = true
		case r == ' ' || r == '-' || r == '(' || r == ')':
		default:
			return "", ErrPhone
		}
	}
	switch {
	case len(digits) == 11 && (digits[0] == '7' || (digits[0] == '8' && !plus)):
		digits = digits[1:]
	case plus:
		return "", ErrPhone
	}
	if len(digits) != 10 || digits[0] != '7' {
		return "", ErrPhone
	}
	return Phone("+7" + string(digits)), nil
}

// Masked shows only the last two digits.
func (p Phone) Masked() string {
	if len(p) < 4 {
		return "***"
	}
	return string(p[:2]) + strings.Repeat("*", len(p)-4) + string(p[len(p)-2:])
}

// SignatureCheck verifies a citizen's digital signature of a challenge.
type SignatureCheck interface {
	// Verify checks signed (a CMS signature as the citizen's signing app
	// makes it) over challenge and returns the IIN its certificate names.
	// Every refusal wraps ErrBadSignature, saying why.
	Verify(ctx context.Context, challenge, signed []byte) (IIN, error)
}

// Digital signature errors.
var (
	ErrBadSignature  = newError(KindInvalid, "err_bad_signature", "the digital signature is not accepted")
	ErrSignatureIIN  = newError(KindInvalid, "err_signature_iin", "the signature's certificate is not of this IIN")
	ErrNoSignatureCA = newError(KindNotFound, "", "log-in by digital signature is not offered here")
)
