package main

import (
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// isTerminal reports whether w is a terminal: progress bars are drawn only
// there, never into a pipe, a file or a test's buffer.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// newBar returns a progress bar of max steps on w, or nil when w is not a
// terminal. A nil *bar accepts every call and draws nothing.
func newBar(w io.Writer, max int64, description string, bytes bool) *bar {
	if !isTerminal(w) {
		return nil
	}
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(description),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionOnCompletion(func() { io.WriteString(w, "\r") }),
	}
	if bytes {
		opts = append(opts, progressbar.OptionShowBytes(true))
	} else {
		opts = append(opts, progressbar.OptionShowCount())
	}
	return &bar{pb: progressbar.NewOptions64(max, opts...)}
}

// bar is a terminal progress bar (nil: none).
type bar struct{ pb *progressbar.ProgressBar }

func (b *bar) set(n int64) {
	if b != nil {
		b.pb.Set64(n)
	}
}

// clear erases the bar so that a message can be printed; the next set draws
// it again.
func (b *bar) clear() {
	if b != nil {
		b.pb.Clear()
	}
}

func (b *bar) finish() {
	if b != nil {
		b.pb.Finish()
	}
}

// downloadProgress draws one bar per file a Hub download fetches.
type downloadProgress struct {
	w    io.Writer
	mu   sync.Mutex
	file string
	cur  *bar
}

// newDownloadProgress returns nil when w is not a terminal.
func newDownloadProgress(w io.Writer) *downloadProgress {
	if !isTerminal(w) {
		return nil
	}
	return &downloadProgress{w: w}
}

// update is a hub.Progress.
func (d *downloadProgress) update(file string, done, total int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if file != d.file || d.cur == nil {
		d.cur.finish()
		d.file = file
		d.cur = newBar(d.w, total, "downloading "+file, true)
	}
	d.cur.set(done)
}

func (d *downloadProgress) finish() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cur.finish()
	d.cur = nil
}
