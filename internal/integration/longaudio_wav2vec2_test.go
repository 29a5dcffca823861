package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/goformer/goformer/audio"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/wav2vec2"
)

const w2vLongAudioChild = "GOFORMER_W2V_LONG_AUDIO_CHILD"

// TestWav2vec2LongAudioMemory transcribes jfk16k.wav repeated to several
// lengths with the wav2vec2 fixture model, each in a fresh process with the
// PCM in a memory mapping (outside the Go heap), and reads the peak RSS
// (VmHWM) less the PCM: with the default options (30 s chunks, 5 s
// strides) it must stay under 384 MiB however long the audio (one pass
// needs more than that for 240 s: its attention grows with the square of
// the length). Opt-in with GOFORMER_LONG_AUDIO=1 (about a minute);
// GOFORMER_W2V_LONG_AUDIO_SECONDS lists the lengths (default 60,480,1440)
// and GOFORMER_W2V_ONE_PASS_SECONDS the length of the one-pass comparison
// (default 240, 0 to skip it).
func TestWav2vec2LongAudioMemory(t *testing.T) {
	if spec := os.Getenv(w2vLongAudioChild); spec != "" {
		w2vLongAudioChildRun(t, spec)
		return
	}
	skipUnlessLongAudio(t, "a minute", "the wav2vec2 long-audio memory test")
	testdata.Fixture(t, "wav2vec2")
	run := func(seconds int, chunk float64) (rest int64) {
		out, err := runTestChild("TestWav2vec2LongAudioMemory", fmt.Sprintf("%s=%d,%g", w2vLongAudioChild, seconds, chunk))
		if err != nil {
			t.Fatalf("child (%d s): %v\n%s", seconds, err, out)
		}
		m := regexp.MustCompile(`RESULT peak=(\d+) pcm=(\d+) elapsed=(\S+)`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("child (%d s) reported no result:\n%s", seconds, out)
		}
		peak, _ := strconv.ParseInt(string(m[1]), 10, 64)
		pcm, _ := strconv.ParseInt(string(m[2]), 10, 64)
		mode := "chunked (defaults)"
		if chunk < 0 {
			mode = "one pass"
		}
		t.Logf("%5d s, %-18s: peak RSS %10s = PCM %9s + %10s (%s)", seconds, mode, mib(peak), mib(pcm), mib(peak-pcm), m[3])
		return peak - pcm
	}
	for _, s := range parseInts(envOr("GOFORMER_W2V_LONG_AUDIO_SECONDS", "60,480,1440")) {
		if rest := run(s, 0); rest > 384<<20 {
			t.Errorf("%d s: peak RSS exceeds the PCM by %s (limit 384 MiB)", s, mib(rest))
		}
	}
	if s := atoiOr(os.Getenv("GOFORMER_W2V_ONE_PASS_SECONDS"), 240); s > 0 {
		run(s, -1)
	}
}

func parseInts(s string) []int {
	var out []int
	for _, f := range regexp.MustCompile(`\d+`).FindAllString(s, -1) {
		n, _ := strconv.Atoi(f)
		out = append(out, n)
	}
	return out
}

// w2vLongAudioChildRun is the measuring process: load, synthesize off the
// heap, transcribe, report.
func w2vLongAudioChildRun(t *testing.T, spec string) {
	var seconds int
	var chunk float64
	if _, err := fmt.Sscanf(spec, "%d,%g", &seconds, &chunk); err != nil {
		t.Fatalf("%s=%q: %v", w2vLongAudioChild, spec, err)
	}
	m, err := wav2vec2.Load(filepath.Join(testdata.Fixture(t, "wav2vec2"), "model"))
	if err != nil {
		t.Fatal(err)
	}
	jfk, err := audio.Load16kFile(testdata.Path(t, "media", "audio", "jfk16k.wav"))
	if err != nil {
		t.Fatal(err)
	}
	n := seconds * audio.SampleRate
	buf, unmap, err := offHeapFloats(n)
	if err != nil {
		t.Fatal(err)
	}
	defer unmap()
	pcm := buf[:0]
	for len(pcm) < n {
		pcm = append(pcm, jfk[:min(len(jfk), n-len(pcm))]...)
	}
	jfk = nil
	start := time.Now()
	res, err := m.Transcribe(context.Background(), pcm, wav2vec2.Options{ChunkLength: chunk})
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start).Round(100 * time.Millisecond)
	t.Logf("%d s transcribed in %v: %d characters", seconds, elapsed, len(res.Text))
	runtime.KeepAlive(pcm)
	fmt.Printf("RESULT peak=%d pcm=%d elapsed=%v\n", procStatus("VmHWM"), int64(n)*4, elapsed)
}
