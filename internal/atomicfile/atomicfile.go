// Package atomicfile writes a file so that a reader sees either its old content or all of the
// new, never a part, and a crash leaves no half-written file: the content goes to a temporary
// file beside it, is synced, and replaces the file by a rename.
package atomicfile

import (
	"io"
	"os"
	"path/filepath"
)

// Write replaces the file at path with what write produces. The file is readable by its
// owner only (0600); its folder must exist.
func Write(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "~"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // fails harmlessly once renamed
	err = write(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// WriteBytes replaces the file at path with b.
func WriteBytes(path string, b []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}
