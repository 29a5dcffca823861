package integration

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goformer/goformer/audio"
	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/whisper"
)

// The long-audio memory test is expensive (a real-size model, an hour of
// audio): it runs only when GOFORMER_LONG_AUDIO is set, never in -short
// mode. GOFORMER_LONG_AUDIO_CONFIG names the configs/ entry to build
// (default whisper-base), GOFORMER_LONG_AUDIO_SECONDS the audio length
// (default 3600), GOFORMER_LONG_AUDIO_MAX_TOKENS the tokens sampled per
// window (default 32, to bound the run time; memory does not depend on it
// beyond the KV cache), GOFORMER_LONG_AUDIO_DIR a directory to keep the
// generated model in between runs, GOFORMER_LONG_AUDIO_HEAPPROFILE a file
// for a heap profile taken after the transcription, and
// GOFORMER_LONG_AUDIO_PCM=mmap puts the synthesized PCM in a memory mapping
// instead of the Go heap (see RELIABILITY.md: on the heap, the collector's
// headroom grows with the caller's PCM; off it, what the library adds is
// constant).
const (
	longAudioEnv   = "GOFORMER_LONG_AUDIO"
	longAudioChild = "GOFORMER_LONG_AUDIO_CHILD"
)

// TestLongAudioMemory builds a random-weight Whisper checkpoint at the size
// of a published one (F32, the Hub layout) from shared/configs, then, in a
// fresh process so that nothing else is counted, loads it and transcribes
// an hour of synthetic audio (jfk16k.wav followed by silence, repeated),
// reporting peak RSS (VmHWM) against the size of the weights and of the
// decoded PCM. The peak must stay within weights + PCM + 512 MiB.
func TestLongAudioMemory(t *testing.T) {
	if dir := os.Getenv(longAudioChild); dir != "" {
		longAudioChildRun(t, dir)
		return
	}
	skipUnlessLongAudio(t, "3 minutes", "the one-hour transcription memory test")
	cfgName := envOr("GOFORMER_LONG_AUDIO_CONFIG", "whisper-base")
	dir := os.Getenv("GOFORMER_LONG_AUDIO_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	dir = filepath.Join(dir, cfgName+"-random")
	if _, err := os.Stat(filepath.Join(dir, "model.safetensors")); err != nil {
		start := time.Now()
		if err := buildRandomWhisper(t, cfgName, dir); err != nil {
			t.Fatal(err)
		}
		t.Logf("built %s in %v", dir, time.Since(start).Round(time.Second))
	}
	out, err := runTestChild("TestLongAudioMemory", longAudioChild+"="+dir)
	t.Logf("child process:\n%s", out)
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	m := regexp.MustCompile(`RESULT peak=(\d+) weights=(\d+) pcm=(\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatal("child reported no result")
	}
	peak, _ := strconv.ParseInt(string(m[1]), 10, 64)
	weights, _ := strconv.ParseInt(string(m[2]), 10, 64)
	pcm, _ := strconv.ParseInt(string(m[3]), 10, 64)
	over := peak - weights - pcm
	t.Logf("peak RSS %s = weights %s + PCM %s + %s", mib(peak), mib(weights), mib(pcm), mib(over))
	if over > 512<<20 {
		t.Errorf("peak RSS exceeds weights + PCM by %s (limit 512 MiB)", mib(over))
	}
}

// skipUnlessLongAudio skips an opt-in long test (about the given time)
// unless GOFORMER_LONG_AUDIO is set, and always in -short mode.
func skipUnlessLongAudio(t *testing.T, about, what string) {
	t.Helper()
	if os.Getenv(longAudioEnv) == "" || testing.Short() {
		t.Skipf("skipping: opt-in long test (about %s, never in -short mode): set %s=1 to run %s", about, longAudioEnv, what)
	}
}

// runTestChild runs the test named test alone in a fresh process of this
// test binary, with env (NAME=value) added to its environment, and returns
// its output.
func runTestChild(test, env string) ([]byte, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.v", "-test.timeout=0")
	cmd.Env = append(os.Environ(), env)
	return cmd.CombinedOutput()
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// procStatus returns a field of /proc/self/status in bytes (VmHWM, VmRSS),
// or -1 where there is none.
func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n << 10
			}
		}
	}
	return -1
}

// longAudioChildRun is the measuring process: load, synthesize, transcribe.
func longAudioChildRun(t *testing.T, dir string) {
	seconds, _ := strconv.Atoi(envOr("GOFORMER_LONG_AUDIO_SECONDS", "3600"))
	report := func(stage string) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		t.Logf("%-22s VmRSS %10s  VmHWM %10s  Go heap in use %10s", stage, mib(procStatus("VmRSS")), mib(procStatus("VmHWM")), mib(int64(ms.HeapInuse)))
	}
	report("start")
	start := time.Now()
	m, err := whisper.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var weights int64
	if st, err := os.Stat(filepath.Join(dir, "model.safetensors")); err == nil {
		weights = st.Size()
	}
	t.Logf("loaded %s (%s of weights) in %v", dir, mib(weights), time.Since(start).Round(time.Millisecond))
	report("after load")

	jfk, err := audio.Load16kFile(testdata.Path(t, "media", "audio", "jfk16k.wav"))
	if err != nil {
		t.Fatal(err)
	}
	// 30-second blocks: speech, then silence.
	block := make([]float32, 30*audio.SampleRate)
	copy(block, jfk)
	var pcm []float32
	if os.Getenv("GOFORMER_LONG_AUDIO_PCM") == "mmap" {
		buf, unmap, err := offHeapFloats(seconds * audio.SampleRate)
		if err != nil {
			t.Fatal(err)
		}
		defer unmap()
		pcm = buf[:0]
		t.Logf("PCM outside the Go heap (anonymous mapping)")
	} else {
		pcm = make([]float32, 0, seconds*audio.SampleRate)
	}
	for len(pcm) < seconds*audio.SampleRate {
		pcm = append(pcm, block[:min(len(block), seconds*audio.SampleRate-len(pcm))]...)
	}
	jfk = nil
	pcmBytes := int64(len(pcm)) * 4
	t.Logf("synthesized %d s of audio (%s of PCM)", seconds, mib(pcmBytes))
	report("after synthesis")

	var segments, lastSeek atomic.Int64
	var peakSeen atomic.Int64
	stop := make(chan struct{})
	go func() { // progress and an RSS trace
		tick := time.NewTicker(30 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				rss := procStatus("VmRSS")
				if rss > peakSeen.Load() {
					peakSeen.Store(rss)
				}
				t.Logf("  %6.0f s transcribed, %d segments, VmRSS %s, VmHWM %s", float64(lastSeek.Load())*audio.HopLength/audio.SampleRate,
					segments.Load(), mib(rss), mib(procStatus("VmHWM")))
			}
		}
	}()
	start = time.Now()
	res, err := m.Transcribe(context.Background(), pcm, whisper.Options{
		Language:     "en",
		Temperatures: []float64{0},
		MaxTokens:    atoiOr(os.Getenv("GOFORMER_LONG_AUDIO_MAX_TOKENS"), 32),
		OnSegment: func(s whisper.Segment) {
			segments.Add(1)
			lastSeek.Store(int64(s.Seek))
		},
	})
	close(stop)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("transcribed %d s into %d segments in %v", seconds, len(res.Segments), time.Since(start).Round(time.Second))
	report("after transcription")
	if p := os.Getenv("GOFORMER_LONG_AUDIO_HEAPPROFILE"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.WriteHeapProfile(f); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	runtime.KeepAlive(pcm)
	peak := procStatus("VmHWM")
	fmt.Printf("RESULT peak=%d weights=%d pcm=%d\n", peak, weights, pcmBytes)
}

func atoiOr(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return def
}

// buildRandomWhisper writes dir/{config.json, generation_config.json,
// model.safetensors, tokenizer files}: configs/<cfgName>'s dimensions, the
// tensor names of the whisper fixture (every layer-0 name repeated for
// each layer, every dimension of the fixture mapped to the one of the
// target config) and random F32 weights.
func buildRandomWhisper(t *testing.T, cfgName, dir string) error {
	root := testdata.Dir(t)
	fixDir := filepath.Join(root, "fixtures", "whisper", "model")
	cfgPath := filepath.Join(root, "configs", cfgName, "config.json")
	fix, err := whisper.LoadConfig(filepath.Join(fixDir, "config.json"))
	if err != nil {
		return err
	}
	cfg, err := whisper.LoadConfig(cfgPath)
	if err != nil {
		return err
	}
	if fix.EncoderLayers != fix.DecoderLayers || fix.EncoderFFN != fix.DecoderFFN || fix.EncoderHeads != fix.DecoderHeads {
		return fmt.Errorf("fixture encoder and decoder differ in size: the mapping below assumes they do not")
	}
	dimMap := map[int]int{
		fix.DModel: cfg.DModel, fix.EncoderFFN: cfg.EncoderFFN, fix.NumMelBins: cfg.NumMelBins,
		fix.MaxSourcePositions: cfg.MaxSourcePositions, fix.MaxTargetPositions: cfg.MaxTargetPositions,
		fix.VocabSize: cfg.VocabSize, 3: 3,
	}
	if len(dimMap) != 7 {
		return fmt.Errorf("fixture dimensions are not distinct: %v", dimMap)
	}
	st, err := checkpoint.OpenSafetensors(filepath.Join(fixDir, "model.safetensors"))
	if err != nil {
		return err
	}
	defer st.Close()
	type entry struct {
		name  string
		shape []int
	}
	var entries []entry
	layerRe := regexp.MustCompile(`^(model\.(encoder|decoder)\.layers\.)0\.(.*)$`)
	for _, name := range st.Names() {
		info, _ := st.Info(name)
		shape := make([]int, len(info.Shape))
		for i, d := range info.Shape {
			nd, ok := dimMap[d]
			if !ok {
				return fmt.Errorf("%s: dimension %d of %v has no counterpart", name, d, info.Shape)
			}
			shape[i] = nd
		}
		if strings.Contains(name, ".layers.") {
			m := layerRe.FindStringSubmatch(name)
			if m == nil {
				continue // layers 1.. come from layer 0
			}
			n := cfg.EncoderLayers
			if m[2] == "decoder" {
				n = cfg.DecoderLayers
			}
			for l := 0; l < n; l++ {
				entries = append(entries, entry{fmt.Sprintf("%s%d.%s", m[1], l, m[3]), shape})
			}
			continue
		}
		entries = append(entries, entry{name, shape})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// Header.
	header := map[string]any{"__metadata__": map[string]string{"format": "pt"}}
	off := 0
	for _, e := range entries {
		n := 4
		for _, d := range e.shape {
			n *= d
		}
		header[e.name] = checkpoint.TensorInfo{DType: "F32", Shape: e.shape, Offsets: [2]int{off, off + n}}
		off += n
	}
	hb, err := json.Marshal(header)
	if err != nil {
		return err
	}
	for len(hb)%8 != 0 {
		hb = append(hb, ' ')
	}
	tmp := filepath.Join(dir, "model.safetensors.tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	binary.Write(w, binary.LittleEndian, uint64(len(hb)))
	w.Write(hb)
	rng := rand.New(rand.NewPCG(2024, 13))
	var buf [4]byte
	for _, e := range entries {
		n := 1
		for _, d := range e.shape {
			n *= d
		}
		norm := strings.Contains(e.name, "layer_norm")
		for i := 0; i < n; i++ {
			var v float32
			switch {
			case norm && strings.HasSuffix(e.name, ".weight"):
				v = 1
			case norm:
				v = 0
			default:
				v = float32(rng.NormFloat64() * 0.02)
			}
			binary.LittleEndian.PutUint32(buf[:], math.Float32bits(v))
			w.Write(buf[:])
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	// Config, generation config and tokenizer files.
	copyFile := func(src, dst string) error {
		b, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	}
	if err := copyFile(cfgPath, filepath.Join(dir, "config.json")); err != nil {
		return err
	}
	for _, name := range []string{"generation_config.json", "vocab.json", "merges.txt", "added_tokens.json",
		"special_tokens_map.json", "tokenizer_config.json", "preprocessor_config.json"} {
		if err := copyFile(filepath.Join(fixDir, name), filepath.Join(dir, name)); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return os.Rename(tmp, filepath.Join(dir, "model.safetensors"))
}
