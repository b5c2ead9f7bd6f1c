package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/koya-dev/koya/client"
)

// pushProgress shows a transfer (a push, or a pull with verb "pulled"):
// on a terminal a bar redrawn in place (bytes, files done of total, rate,
// time left); elsewhere one line per file done.
type pushProgress struct {
	verb       string
	w          io.Writer
	live       bool
	files      int
	total      atomic.Int64
	sent       atomic.Int64
	start      time.Time
	mu         sync.Mutex
	doneFiles  int
	quit, gone chan struct{}
	once       sync.Once
}

func newPushProgress(w io.Writer, live bool, files int, total int64) *pushProgress {
	p := &pushProgress{verb: "pushed", w: w, live: live, files: files, start: time.Now(), quit: make(chan struct{}), gone: make(chan struct{})}
	p.total.Store(total)
	if !live {
		close(p.gone)
		return p
	}
	go func() {
		defer close(p.gone)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.quit:
				p.draw(true)
				return
			case <-t.C:
				p.draw(false)
			}
		}
	}()
	return p
}

// add counts bytes sent (negative: resent after a failure).
func (p *pushProgress) add(n int64) { p.sent.Add(n) }

// done records a file's end.
func (p *pushProgress) done(f pushFile, df client.DataFile, err error) {
	p.doneFile(df.Channel, df.Path, "", df.Size, err)
}

// doneFile records a file's end; to names where a pulled file went.
func (p *pushProgress) doneFile(channel, path, to string, size int64, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.doneFiles++
	if p.live || err != nil {
		return
	}
	if to != "" {
		to = " to " + to
	}
	fmt.Fprintf(p.w, "%s %s/%s%s (%s)\n", p.verb, channel, path, to, bytesOf(size))
}

// Write counts bytes written through it (a pull's destination).
func (p *pushProgress) Write(b []byte) (int, error) {
	p.add(int64(len(b)))
	return len(b), nil
}

func (p *pushProgress) stop() {
	p.once.Do(func() { close(p.quit) })
	<-p.gone
}

func (p *pushProgress) draw(final bool) {
	p.mu.Lock()
	done := p.doneFiles
	p.mu.Unlock()
	total := p.total.Load()
	sent := min(p.sent.Load(), total)
	el := time.Since(p.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(sent) / el
	}
	frac := 1.0
	if total > 0 {
		frac = float64(sent) / float64(total)
	}
	const width = 24
	fill := int(frac * width)
	bar := strings.Repeat("=", fill) + strings.Repeat(" ", width-fill)
	eta := "-"
	if rate > 0 && sent < total {
		eta = short(time.Duration(float64(total-sent) / rate * float64(time.Second)))
	}
	fmt.Fprintf(p.w, "\r[%s] %3.0f%% %s/%s  %d/%d files  %s/s  ETA %s   ", bar, frac*100,
		bytesOf(sent), bytesOf(total), done, p.files, bytesOf(int64(rate)), eta)
	if final {
		fmt.Fprintln(p.w)
	}
}
