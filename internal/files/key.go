package files

import (
	"errors"
	"time"
)

// ErrInvalidKey is returned for a key outside the objects port's key rule.
//
// It and ValidateKey belong in package objects, beside the Store interface whose documentation
// states the rule; they live here until the port carries them, and the S3 adapter uses this
// copy so that both adapters refuse exactly the same keys.
var ErrInvalidKey = errors.New("objects: invalid key")

// MaxKeyLength is S3's limit on key length in bytes; the folder adapter applies it too so that
// a key accepted locally is accepted in AWS.
const MaxKeyLength = 1024

// MaxSegmentLength is the usual file system limit on a file name, in bytes; S3 has none, but
// a key must name a file in the local folder too.
const MaxSegmentLength = 255

// MaxURLTTL is the longest life of a link: SigV4 presigned URLs cannot outlive seven days, and
// the folder adapter refuses the same so that local mode cannot promise what AWS refuses.
const MaxURLTTL = 7 * 24 * time.Hour

// ValidateKey refuses any key that is not slash-separated segments of [A-Za-z0-9._-], each
// non-empty, neither "." nor ".." and at most MaxSegmentLength bytes, the whole at most
// MaxKeyLength bytes. Such a key names the same path on every file system and in S3, and
// cannot escape the folder that holds the objects.
func ValidateKey(key string) error {
	if key == "" || len(key) > MaxKeyLength {
		return ErrInvalidKey
	}
	start := 0
	for i := 0; i <= len(key); i++ {
		if i < len(key) && key[i] != '/' {
			if !keyByte(key[i]) {
				return ErrInvalidKey
			}
			continue
		}
		if seg := key[start:i]; seg == "" || seg == "." || seg == ".." || len(seg) > MaxSegmentLength {
			return ErrInvalidKey
		}
		start = i + 1
	}
	return nil
}

func keyByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == '_' || c == '-'
}
