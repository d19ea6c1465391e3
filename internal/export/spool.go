package export

import (
	"archive/zip"
	"compress/flate"
	"errors"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"sync"
	"time"
)

// An export reads each list once and writes it twice, as JSON in data.json and as a CSV
// file. Encoding (one core) and compressing (another) run side by side: what is written goes
// through an asyncWriter to a goroutine that compresses it, the CSV files into spools that
// join the archive once data.json is complete. Memory stays a few buffers per writer; the
// spools take the compressed CSV on disk (Lambda's /tmp: 512 MB by default, about 25 MB per
// million device observations, see BENCHMARKS.md).

// asyncBuffers is how many chunks one asyncWriter holds at most.
const asyncBuffers = 4

// asyncWriter writes to w from a goroutine of its own. Write copies the bytes and returns;
// the first error of w is returned by the next Write and by Close.
type asyncWriter struct {
	ch   chan []byte
	free chan []byte
	done chan struct{}
	mu   sync.Mutex
	err  error
}

func newAsyncWriter(w io.Writer) *asyncWriter {
	a := &asyncWriter{ch: make(chan []byte, asyncBuffers), free: make(chan []byte, asyncBuffers), done: make(chan struct{})}
	for range asyncBuffers {
		a.free <- nil
	}
	go func() {
		defer close(a.done)
		for b := range a.ch {
			if a.failed() == nil {
				if _, err := w.Write(b); err != nil {
					a.mu.Lock()
					a.err = err
					a.mu.Unlock()
				}
			}
			a.free <- b[:0]
		}
	}()
	return a
}

func (a *asyncWriter) failed() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

func (a *asyncWriter) Write(p []byte) (int, error) {
	if err := a.failed(); err != nil {
		return 0, err
	}
	b := append(<-a.free, p...)
	a.ch <- b
	return len(p), nil
}

// Close waits until everything written has reached w.
func (a *asyncWriter) Close() error {
	close(a.ch)
	<-a.done
	return a.failed()
}

// compressor is how every file of a package is compressed: zip's Deflate at flate's default
// level, the same as a plain zip.Writer.
func compressor(w io.Writer) (*flate.Writer, error) {
	return flate.NewWriter(w, flate.DefaultCompression)
}

// spool compresses one file of the archive into a temporary file, to be added whole later.
type spool struct {
	name string
	f    *os.File
	fw   *flate.Writer
	crc  hash.Hash32
	size int64 // uncompressed
	w    *asyncWriter
}

func newSpool(name string) (*spool, error) {
	f, err := os.CreateTemp("", "gdpr-export-*")
	if err != nil {
		return nil, err
	}
	// Unlinked at once: nothing is left behind whatever happens to the process.
	os.Remove(f.Name())
	fw, err := compressor(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	s := &spool{name: name, f: f, fw: fw, crc: crc32.NewIEEE()}
	s.w = newAsyncWriter(spoolSink{s})
	return s, nil
}

type spoolSink struct{ s *spool }

func (k spoolSink) Write(p []byte) (int, error) {
	k.s.crc.Write(p)
	k.s.size += int64(len(p))
	return k.s.fw.Write(p)
}

// Write hands p to the compressing goroutine.
func (s *spool) Write(p []byte) (int, error) { return s.w.Write(p) }

// addTo finishes the compressed file and copies it into the archive as it is.
func (s *spool) addTo(z *zip.Writer, modified time.Time) error {
	defer s.f.Close()
	if err := errors.Join(s.w.Close(), s.fw.Close()); err != nil {
		return err
	}
	compressed, err := s.f.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	w, err := z.CreateRaw(&zip.FileHeader{Name: s.name, Method: zip.Deflate, Modified: modified,
		CRC32: s.crc.Sum32(), CompressedSize64: uint64(compressed), UncompressedSize64: uint64(s.size)})
	if err != nil {
		return err
	}
	_, err = io.Copy(w, s.f)
	return err
}

// discard closes the spool without adding it (the export failed).
func (s *spool) discard() {
	s.w.Close()
	s.f.Close()
}
