package goformer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/goformer/goformer/cuda"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

// gpuTol is the bound of TestGPUMatchesHost on every float a task returns
// (scores, logits, probabilities, embeddings, timings), normwise over the
// values of one kind: max|Δ| / max|want| over, say, the logits of all
// labels, or all the embeddings of a call. Token ids, texts, labels and
// every other non-float value must be identical.
const gpuTol = 1e-4

// TestGPUMatchesHost is the whole-model parity check of a real device
// (the CUDA backend): every registered architecture's fixture is loaded on
// the host and on the device named by GOFORMER_TEST_DEVICE (default
// cuda:0; "check" runs it on the checking device), with float32 weights
// and with F16 weights (tensor.WeightF16, widened exactly on both sides),
// and every task it advertises runs on the inputs of TestDeviceMatchesHost:
// greedy and beam token ids, captions, answers, transcripts and labels
// must be identical, and floats within gpuTol (see gpuTol). It also
// reports the copies between host and device per call and the device
// memory the model holds, and checks that Close gives it back.
//
// Where the device cannot be opened (a build without -tags cuda, no
// driver, no GPU) it skips saying why, unless GOFORMER_REQUIRE_CUDA=1,
// where it fails. GOFORMER_TEST_FIXTURES (fixture names separated by spaces) limits it
// to some fixtures; the others are then skipped by name.
func TestGPUMatchesHost(t *testing.T) {
	name := os.Getenv("GOFORMER_TEST_DEVICE")
	if name == "" {
		name = "cuda:0"
	}
	dev, err := OpenDevice(name)
	if err == nil && dev == nil {
		err = fmt.Errorf("%q is the host", name)
	}
	if err != nil {
		if os.Getenv("GOFORMER_REQUIRE_CUDA") == "1" {
			t.Fatalf("GOFORMER_REQUIRE_CUDA=1 but device %s cannot be opened: %v", name, err)
		}
		t.Skipf("skipping: missing test hardware: no device %s to compare with the host (%v); set GOFORMER_TEST_DEVICE=check for the checking device", name, err)
	}
	isCUDA := strings.HasPrefix(dev.Name(), "cuda")
	if isCUDA {
		defer func() {
			if err := cuda.Close(dev); err != nil {
				t.Errorf("closing %s: %v", dev.Name(), err)
			}
		}()
	}
	var only map[string]bool
	if f := strings.Fields(os.Getenv("GOFORMER_TEST_FIXTURES")); len(f) > 0 {
		only = map[string]bool{}
		for _, n := range f {
			only[n] = true
		}
	}
	ctx := context.Background()
	img := mustImage(t, testdata.Path(t, "media", "images", "chelsea.png"))
	pcm := mustAudio(t, testdata.Path(t, "media", "audio", "jfk16k.wav"))
	for _, f := range Families() {
		for _, arch := range f.Architectures {
			fixture := archFixtures[arch]
			for _, mode := range []struct {
				name string
				wt   tensor.WeightType
			}{{"f32", tensor.WeightF32}, {"f16", tensor.WeightF16}} {
				t.Run(arch+"/"+mode.name, func(t *testing.T) {
					if only != nil && !only[fixture] {
						t.Skipf("skipping: missing test data: fixture %s left out by GOFORMER_TEST_FIXTURES", fixture)
					}
					dir := withArchitecture(t, filepath.Join(testdata.Fixture(t, fixture), "model"), arch)
					opts := []Option{}
					if mode.wt != tensor.WeightF32 {
						opts = append(opts, WithWeightType(mode.wt))
					}
					host, err := Load(ctx, dir, opts...)
					if err != nil {
						t.Fatal(err)
					}
					defer host.Close()
					mem0 := deviceMemory(dev)
					t0 := time.Now()
					m, err := Load(ctx, dir, append(opts, WithDevice(dev))...)
					if err != nil {
						t.Fatal(err)
					}
					closed := false
					defer func() {
						if !closed {
							m.Close()
						}
					}()
					loaded := dev.Transfers()
					memLoaded := deviceMemory(dev)
					t.Logf("loaded on %s in %v: %s", dev.Name(), time.Since(t0).Round(time.Millisecond), memDelta(mem0, memLoaded))
					for _, tk := range m.Info().Tasks {
						want, err := runTask(ctx, host, tk, img, pcm)
						if err != nil {
							t.Fatalf("%s on the host: %v", tk, err)
						}
						before := dev.Transfers()
						t1 := time.Now()
						got, err := runTask(ctx, m, tk, img, pcm)
						if err != nil {
							t.Errorf("%s on %s: %v", tk, dev.Name(), err)
							continue
						}
						elapsed := time.Since(t1)
						tr := dev.Transfers()
						t.Logf("%s %s/%s: %v on %s; %d uploads (%d bytes), %d downloads (%d bytes) for the call; %d uploads (%d bytes) at load",
							arch, mode.name, tk, elapsed.Round(time.Microsecond), dev.Name(), tr.Uploads-before.Uploads, tr.UploadBytes-before.UploadBytes,
							tr.Downloads-before.Downloads, tr.DownloadBytes-before.DownloadBytes, loaded.Uploads, loaded.UploadBytes)
						var c resultComparison
						c.walk("", reflect.ValueOf(got), reflect.ValueOf(want))
						for _, p := range c.problems {
							t.Errorf("%s: %s", tk, p)
						}
						for _, g := range c.sortedGroups() {
							rel := g.rel()
							t.Logf("%s %s/%s %s: max|Δ|/max|want| = %.2e (bound %.0e)", arch, mode.name, tk, g.path, rel, gpuTol)
							if !(rel <= gpuTol) {
								t.Errorf("%s: %s differs from the host's: max|Δ|/max|want| = %.3e over %d values (bound %.0e)", tk, g.path, rel, g.n, gpuTol)
							}
						}
						if len(c.problems) > 0 {
							t.Logf("%s: device result %+v\nhost result %+v", tk, got, want)
						}
					}
					memRan := deviceMemory(dev)
					closed = true
					if err := m.Close(); err != nil {
						t.Fatal(err)
					}
					memClosed := deviceMemory(dev)
					if memLoaded != nil {
						t.Logf("device memory: %s after the tasks, %s after Close (against before Load)",
							memDelta(mem0, memRan), memDelta(mem0, memClosed))
						if memClosed.InUse > mem0.InUse {
							t.Errorf("Close left %d bytes of device memory in use (tensors not released by the forward passes, or weights not freed)", memClosed.InUse-mem0.InUse)
						}
					}
				})
			}
		}
	}
}

// deviceMemory returns the memory figures of a CUDA device (nil for
// another device).
func deviceMemory(d *tensor.Device) *cuda.MemoryStats {
	s, err := cuda.Memory(d)
	if err != nil {
		return nil
	}
	return &s
}

func memDelta(a, b *cuda.MemoryStats) string {
	if a == nil || b == nil {
		return "(no memory figures for this device)"
	}
	return fmt.Sprintf("%+.1f MiB in use, %+.1f MiB cached", float64(b.InUse-a.InUse)/(1<<20), float64(b.Cached-a.Cached)/(1<<20))
}

// resultComparison walks a device result and a host result side by side:
// every value that is not a float must be equal (problems lists those
// that are not); floats are gathered into groups by their path with the
// slice and array indices left out (all the scores of a classification,
// all the vectors of an embedding call), compared normwise.
type resultComparison struct {
	problems []string
	groups   map[string]*floatGroup
}

type floatGroup struct {
	path          string
	n             int
	diff, scale   float64
	nanMismatches int
}

func (g *floatGroup) rel() float64 {
	if g.nanMismatches > 0 {
		return math.Inf(1)
	}
	if g.scale == 0 {
		return g.diff
	}
	return g.diff / g.scale
}

var indexRE = regexp.MustCompile(`\[\d+\]`)

func (c *resultComparison) problem(path, format string, args ...any) {
	if len(c.problems) < 20 {
		c.problems = append(c.problems, fmt.Sprintf("%s: %s", strings.TrimPrefix(path, "."), fmt.Sprintf(format, args...)))
	}
}

func (c *resultComparison) float(path string, g, w float64) {
	key := indexRE.ReplaceAllString(path, "[]")
	if key == "" {
		key = "(value)"
	}
	if c.groups == nil {
		c.groups = map[string]*floatGroup{}
	}
	fg := c.groups[key]
	if fg == nil {
		fg = &floatGroup{path: strings.TrimPrefix(key, ".")}
		c.groups[key] = fg
	}
	fg.n++
	gn, wn := math.IsNaN(g), math.IsNaN(w)
	switch {
	case gn && wn:
		return
	case gn != wn, math.IsInf(w, 0) && g != w:
		fg.nanMismatches++
		c.problem(path, "%v, host %v", g, w)
		return
	case math.IsInf(w, 0):
		return
	}
	fg.diff = max(fg.diff, math.Abs(g-w))
	fg.scale = max(fg.scale, math.Abs(w))
}

func (c *resultComparison) sortedGroups() []*floatGroup {
	out := make([]*floatGroup, 0, len(c.groups))
	for _, g := range c.groups {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out
}

func (c *resultComparison) walk(path string, g, w reflect.Value) {
	if g.IsValid() != w.IsValid() {
		c.problem(path, "present on one side only (device %v, host %v)", g.IsValid(), w.IsValid())
		return
	}
	if !g.IsValid() {
		return
	}
	if g.Type() != w.Type() {
		c.problem(path, "type %v, host %v", g.Type(), w.Type())
		return
	}
	switch g.Kind() {
	case reflect.Pointer, reflect.Interface:
		if g.IsNil() || w.IsNil() {
			if g.IsNil() != w.IsNil() {
				c.problem(path, "nil on one side only")
			}
			return
		}
		c.walk(path, g.Elem(), w.Elem())
	case reflect.Struct:
		for i := range g.NumField() {
			if !g.Type().Field(i).IsExported() {
				continue
			}
			c.walk(path+"."+g.Type().Field(i).Name, g.Field(i), w.Field(i))
		}
	case reflect.Slice, reflect.Array:
		if g.Len() != w.Len() {
			c.problem(path, "%d values, host %d", g.Len(), w.Len())
			return
		}
		if k := g.Type().Elem().Kind(); k != reflect.Float32 && k != reflect.Float64 &&
			g.Type().Elem().Comparable() && k != reflect.Interface && k != reflect.Pointer && k != reflect.Struct && k != reflect.Array {
			// Ids, codes, bytes: identical, reported as one difference.
			if !reflect.DeepEqual(g.Interface(), w.Interface()) {
				c.problem(path, "%v, host %v", g.Interface(), w.Interface())
			}
			return
		}
		for i := range g.Len() {
			c.walk(fmt.Sprintf("%s[%d]", path, i), g.Index(i), w.Index(i))
		}
	case reflect.Map:
		if g.Len() != w.Len() {
			c.problem(path, "%d entries, host %d", g.Len(), w.Len())
			return
		}
		for _, k := range w.MapKeys() {
			c.walk(fmt.Sprintf("%s[%v]", path, k), g.MapIndex(k), w.MapIndex(k))
		}
	case reflect.Float32, reflect.Float64:
		c.float(path, g.Float(), w.Float())
	default:
		if !g.CanInterface() {
			return
		}
		if !reflect.DeepEqual(g.Interface(), w.Interface()) {
			c.problem(path, "%#v, host %#v", g.Interface(), w.Interface())
		}
	}
}

// TestResultComparison: the comparison of TestGPUMatchesHost finds what it
// must (a changed id, text, length, a float beyond the bound normwise) and
// accepts floats that differ within it.
func TestResultComparison(t *testing.T) {
	type seg struct {
		Text   string
		Tokens []int
		Score  float64
	}
	type res struct {
		Segs  []seg
		Emb   [][]float32
		Label *string
	}
	label := "cat"
	want := res{Segs: []seg{{"a", []int{1, 2}, -0.5}, {"b", []int{3}, -2}}, Emb: [][]float32{{1, 0}, {0.6, 0.8}}, Label: &label}
	check := func(what string, got any, problems int, within bool) {
		t.Helper()
		var c resultComparison
		c.walk("", reflect.ValueOf(got), reflect.ValueOf(want))
		ok := true
		for _, g := range c.groups {
			ok = ok && g.rel() <= gpuTol
		}
		if len(c.problems) != problems || ok != within {
			t.Errorf("%s: problems %q, within bound %v; want %d problems, within %v", what, c.problems, ok, problems, within)
		}
	}
	check("identical", want, 0, true)
	same := want
	same.Emb = [][]float32{{1, 5e-5}, {0.6, 0.8}}
	same.Segs = []seg{{"a", []int{1, 2}, -0.50001}, {"b", []int{3}, -2}}
	check("floats within the bound", same, 0, true)
	far := want
	far.Emb = [][]float32{{1, 2e-4}, {0.6, 0.8}}
	check("an embedding beyond the bound", far, 0, false)
	ids := want
	ids.Segs = []seg{{"a", []int{1, 4}, -0.5}, {"b", []int{3}, -2}}
	check("a token id", ids, 1, true)
	text := want
	other := "dog"
	text.Label = &other
	text.Segs = []seg{{"a", []int{1, 2}, -0.5}}
	check("a label and a missing segment", text, 2, true)
	nan := want
	nan.Emb = [][]float32{{1, float32(math.NaN())}, {0.6, 0.8}}
	check("a NaN", nan, 1, false)
	if !errors.Is(fmt.Errorf("x: %w", cuda.ErrNotAvailable), tensor.ErrDevice) {
		t.Error("cuda.ErrNotAvailable does not wrap tensor.ErrDevice")
	}
}
