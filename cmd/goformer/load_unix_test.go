//go:build unix

package main

import (
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/goformer/goformer/audio"
	"github.com/goformer/goformer/internal/testdata"
)

// cpuTime is the CPU time this process has used.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// longAudio is jfk.flac 20 times over (220 s): far longer to transcribe
// than any time limit in these tests.
func longAudio(t *testing.T) []byte {
	pcm, err := audio.Load16kFile(testdata.Path(t, "media", "audio", "jfk.flac"))
	if err != nil {
		t.Fatal(err)
	}
	return testdata.WAV16(slices.Repeat(pcm, 20), 16000)
}

func TestServeHostileRequestsStopWork(t *testing.T) {
	ts, _ := newTestServer(t, serverConfig{Timeout: 500 * time.Millisecond})
	img := b64File(t, imagePath(t, "chelsea.png"))
	// Absurd beams are refused at once, naming the limit.
	began := time.Now()
	status, body := postJSON(t, ts.URL+"/v1/caption", map[string]any{"model": "blip-caption", "image": img, "beams": 1000})
	if msg := apiErr(t, body); status != http.StatusBadRequest || !strings.Contains(msg, "16") || time.Since(began) > time.Second {
		t.Errorf("beams 1000: %d %q after %v", status, msg, time.Since(began))
	}
	status, body = postJSON(t, ts.URL+"/v1/caption", map[string]any{"model": "blip-caption", "image": img, "max_new_tokens": 1 << 20})
	if msg := apiErr(t, body); status != http.StatusBadRequest || !strings.Contains(msg, "256") {
		t.Errorf("max_new_tokens 2^20: %d %q", status, msg)
	}
	// Work past the time limit stops: 504, and the process's CPU use falls
	// to idle right after (it would stay at every core for minutes if the
	// transcription went on).
	status, _, body = postForm(t, ts.URL+"/v1/audio/transcriptions", formFile{
		fields: [][2]string{{"model", "whisper"}, {"language", "en"}}, fileName: "long.wav", file: longAudio(t)})
	if status != http.StatusGatewayTimeout {
		t.Fatalf("long transcription: %d %s", status, body)
	}
	time.Sleep(300 * time.Millisecond) // the step in flight finishes
	c0, w0 := cpuTime(t), time.Now()
	time.Sleep(time.Second)
	used, wall := cpuTime(t)-c0, time.Since(w0)
	t.Logf("after the 504: %v CPU in %v", used, wall)
	if used > wall/2 {
		t.Errorf("after the 504 the process used %v CPU in %v: the work did not stop", used, wall)
	}
}

// TestServeFairUnderLoad mixes hostile requests (absurd beams and token
// counts, oversized inputs, audio over the server's length limit) with
// normal ones from several clients at once: every normal request is
// answered within its time limit, every hostile one is refused (400, 413)
// or cut (504), and no request goes unanswered.
func TestServeFairUnderLoad(t *testing.T) {
	const timeout = 10 * time.Second
	ts, _ := newTestServer(t, serverConfig{Concurrency: 2, Queue: 32, Timeout: timeout, MaxUpload: 16 << 20, MaxAudioSeconds: 60})
	img := b64File(t, imagePath(t, "chelsea.png"))
	jfk := readFile(t, testdata.Path(t, "media", "audio", "jfk.flac"))
	long := longAudio(t)
	type req struct {
		name    string
		hostile bool
		do      func() (int, []byte)
	}
	jsonReq := func(path string, v map[string]any) func() (int, []byte) {
		return func() (int, []byte) { return postJSON(t, ts.URL+path, v) }
	}
	formReq := func(file []byte, model string) func() (int, []byte) {
		return func() (int, []byte) {
			s, _, b := postForm(t, ts.URL+"/v1/audio/transcriptions", formFile{
				fields: [][2]string{{"model", model}, {"language", "en"}}, fileName: "a.wav", file: file})
			return s, b
		}
	}
	kinds := []req{
		{"classify", false, jsonReq("/v1/classify", map[string]any{"image": img, "top_k": 3})},
		{"caption", false, jsonReq("/v1/caption", map[string]any{"model": "vit-gpt2", "image": img, "max_new_tokens": 8})},
		{"embed", false, jsonReq("/v1/embeddings", map[string]any{"input": []string{"a cat", "a dog"}})},
		{"transcribe", false, formReq(jfk, "wav2vec2")},
		{"beams 1000", true, jsonReq("/v1/caption", map[string]any{"model": "blip-caption", "image": img, "beams": 1000})},
		{"tokens 1e6", true, jsonReq("/v1/vqa", map[string]any{"image": img, "question": "why?", "max_new_tokens": 1000000})},
		{"10k inputs", true, jsonReq("/v1/embeddings", map[string]any{"input": make([]string, 10000)})},
		{"220 s audio", true, formReq(long, "whisper")},
	}
	const clients, perClient = 4, 12
	type result struct {
		name    string
		hostile bool
		status  int
		took    time.Duration
	}
	results := make(chan result, clients*perClient)
	deadline := time.Now().Add(90 * time.Second)
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; i < perClient && time.Now().Before(deadline); i++ {
				k := kinds[(c*5+i*3)%len(kinds)]
				began := time.Now()
				status, _ := k.do()
				results <- result{k.name, k.hostile, status, time.Since(began)}
			}
		}(c)
	}
	wg.Wait()
	close(results)
	var normal []time.Duration
	slowest := map[string]time.Duration{}
	n, hostile := 0, 0
	for r := range results {
		n++
		switch {
		case r.hostile:
			hostile++
			if r.status != http.StatusBadRequest && r.status != http.StatusRequestEntityTooLarge && r.status != http.StatusGatewayTimeout {
				t.Errorf("hostile %s: %d", r.name, r.status)
			}
		default:
			normal = append(normal, r.took)
			slowest[r.name] = max(slowest[r.name], r.took)
			if r.status != http.StatusOK {
				t.Errorf("normal %s: %d after %v", r.name, r.status, r.took)
			}
			if r.took > timeout {
				t.Errorf("normal %s took %v, over the %v limit", r.name, r.took, timeout)
			}
		}
	}
	if n != clients*perClient {
		t.Errorf("%d of %d requests answered", n, clients*perClient)
	}
	sort.Slice(normal, func(i, j int) bool { return normal[i] < normal[j] })
	if len(normal) > 0 {
		p := func(q float64) time.Duration { return normal[min(len(normal)-1, int(q*float64(len(normal))))] }
		t.Logf("%d requests (%d hostile, %.0f%%), %d clients; normal requests p50 %v, p99 %v, max %v",
			n, hostile, 100*float64(hostile)/float64(n), clients, p(0.5), p(0.99), normal[len(normal)-1])
		t.Logf("slowest normal request of each kind: %v", slowest)
	}
}
