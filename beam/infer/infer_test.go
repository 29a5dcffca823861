package infer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/goformer/goformer"
	"github.com/goformer/goformer/beam/internal/testref"
	"github.com/goformer/goformer/transcript"
)

func TestMain(m *testing.M) { os.Exit(testref.RunPrism(m)) }

// runPrism runs p on the in-process Prism runner and returns the
// goformer counters, summed over steps.
func runPrism(t testing.TB, p *beam.Pipeline) (map[string]int64, error) {
	t.Helper()
	res, err := prism.Execute(context.Background(), p)
	if err != nil {
		return nil, err
	}
	counters := map[string]int64{}
	for _, c := range res.Metrics().AllMetrics().Counters() {
		if c.Namespace() == "goformer" {
			counters[c.Name()] += c.Result()
		}
	}
	return counters, nil
}

// readRecords reads written records by key, failing on a key seen twice.
func readRecords(t *testing.T, glob string) map[string]Record {
	t.Helper()
	return readKeyed(t, glob, func(r Record) string { return r.Key() })
}

// readDead reads written dead letters by path.
func readDead(t *testing.T, glob string) map[string]DeadLetterRecord {
	t.Helper()
	return readKeyed(t, glob, func(d DeadLetterRecord) string { return d.Path })
}

// readKeyed reads the JSON lines of the files matching glob by key,
// failing on a key seen twice.
func readKeyed[T any](t *testing.T, glob string, key func(T) string) map[string]T {
	t.Helper()
	lines, files := testref.ReadLines(t, glob)
	if len(files) == 0 {
		t.Fatalf("no files match %s", glob)
	}
	out := map[string]T{}
	for _, l := range lines {
		var v T
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("%s: %v: %q", glob, err, l)
		}
		k := key(v)
		if _, dup := out[k]; dup {
			t.Errorf("%s: %s written twice", glob, k)
		}
		out[k] = v
	}
	return out
}

// load loads a model through the front door, for the expected results.
func load(t *testing.T, dir string) goformer.Model {
	t.Helper()
	m, err := goformer.Load(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// images returns the media images, those that decode and those that do
// not (the truncated JPEG must be among the latter).
func images(t testing.TB) (good, bad []string) {
	dir := testPath(t, "media", "images")
	all, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(all)
	for _, p := range all {
		if _, err := goformer.DecodeImageFile(p); err != nil {
			bad = append(bad, p)
		} else {
			good = append(good, p)
		}
	}
	if !slices.Contains(bad, filepath.Join(dir, "truncated.jpg")) {
		t.Fatalf("truncated.jpg decodes: the dead-letter test needs a corrupt file")
	}
	return good, bad
}

// checkCounters compares the goformer counters with what the inputs make.
func checkCounters(t *testing.T, got map[string]int64, done, errs int64) {
	t.Helper()
	if got["inputs_done"] != done || got["errors"] != errs {
		t.Errorf("counters inputs_done=%d errors=%d, want %d and %d (all: %v)", got["inputs_done"], got["errors"], done, errs, got)
	}
}

// TestImageTasks runs Caption (BLIP and ViT-GPT2), Answer (BLIP VQA),
// Classify (ViT) over the media images in one pipeline on Prism, and
// compares every record with the library's result for the same file; the
// truncated JPEG must be a dead letter of each task.
func TestImageTasks(t *testing.T) {
	good, bad := images(t)
	out := t.TempDir()
	type job struct {
		name, task, fixture string
		cfg                 Config
		want                func(m goformer.Model, img image.Image) (any, error)
	}
	ctx := context.Background()
	jobs := []job{
		{"caption-blip", TaskCaption, "blip-caption", Config{}, func(m goformer.Model, img image.Image) (any, error) {
			return m.(goformer.Captioner).Caption(ctx, img, goformer.CaptionOptions{})
		}},
		{"caption-blip-prompt", TaskCaption, "blip-caption", Config{Caption: goformer.CaptionOptions{Prompt: "a picture of", MaxNewTokens: 8}}, func(m goformer.Model, img image.Image) (any, error) {
			return m.(goformer.Captioner).Caption(ctx, img, goformer.CaptionOptions{Prompt: "a picture of", MaxNewTokens: 8})
		}},
		{"caption-vitgpt2", TaskCaption, "vit-gpt2", Config{}, func(m goformer.Model, img image.Image) (any, error) {
			return m.(goformer.Captioner).Caption(ctx, img, goformer.CaptionOptions{})
		}},
		{"answer", TaskAnswer, "blip-vqa", Config{Question: "how many dogs are there?"}, func(m goformer.Model, img image.Image) (any, error) {
			return m.(goformer.Answerer).Answer(ctx, img, "how many dogs are there?", goformer.AnswerOptions{})
		}},
		{"classify", TaskClassify, "vit", Config{Classify: goformer.ClassifyOptions{TopK: 3}, Parallelism: 2}, func(m goformer.Model, img image.Image) (any, error) {
			return m.(goformer.Classifier).Classify(ctx, img, goformer.ClassifyOptions{TopK: 3})
		}},
	}
	p, s := beam.NewPipelineWithRoot()
	paths := beam.CreateList(s, append(append([]string(nil), good...), bad...))
	for _, j := range jobs {
		j.cfg.Model = fixtureModel(t, j.fixture)
		res := Run(s.Scope(j.name), j.task, paths, j.cfg)
		WriteJSONL(s, res.Records, filepath.Join(out, j.name), "results", 2)
		WriteJSONL(s, res.DeadLetter, filepath.Join(out, j.name), "deadletter", 1)
	}
	counters, err := runPrism(t, p)
	if err != nil {
		t.Fatal(err)
	}
	checkCounters(t, counters, int64(len(jobs)*len(good)), int64(len(jobs)*len(bad)))

	for _, j := range jobs {
		t.Run(j.name, func(t *testing.T) {
			recs := readRecords(t, filepath.Join(out, j.name, "results-*-of-00002.jsonl"))
			dead := readDead(t, filepath.Join(out, j.name, "deadletter-00000-of-00001.jsonl"))
			if len(recs) != len(good) || len(dead) != len(bad) {
				t.Errorf("%d records and %d dead letters, want %d and %d", len(recs), len(dead), len(good), len(bad))
			}
			for _, b := range bad {
				if d, ok := dead[b]; !ok || d.Error == "" || d.Task != j.task {
					t.Errorf("%s: dead letter %+v", filepath.Base(b), d)
				}
			}
			m := load(t, fixtureModel(t, j.fixture))
			for _, g := range good {
				img, err := goformer.DecodeImageFile(g)
				if err != nil {
					t.Fatal(err)
				}
				want, err := j.want(m, img)
				if err != nil {
					t.Fatalf("%s: library: %v", g, err)
				}
				r, ok := recs[g]
				if !ok {
					t.Errorf("%s: no record", filepath.Base(g))
					continue
				}
				if got, w := string(r.Result), mustJSON(t, want); got != w {
					t.Errorf("%s: result\n%s\nlibrary\n%s", filepath.Base(g), got, w)
				}
				if r.Model != fixtureModel(t, j.fixture) || r.Task != j.task || r.Timings.Infer <= 0 || len(r.Options) == 0 {
					t.Errorf("%s: record fields %+v", filepath.Base(g), r)
				}
			}
		})
	}
}

// TestEmbed embeds the media images and some texts on Prism, writes the
// sharded index, and checks the vectors against the library's and that
// every index shard opens with the model's Searcher (what `goformer search
// -index` does).
func TestEmbed(t *testing.T) {
	good, bad := images(t)
	texts := []string{"a photo of a cat", "a rocket", "two dogs", "", "a photo of a cat"}
	dir := fixtureModel(t, "clip")
	out := t.TempDir()
	p, s := beam.NewPipelineWithRoot()
	cfg := Config{Model: dir, BatchSize: 4}
	ims := EmbedImages(s, beam.CreateList(s, append(append([]string(nil), good...), bad...)), cfg)
	txs := EmbedTexts(s, beam.CreateList(s, texts), cfg)
	WriteIndex(s.Scope("images"), ims.Records, filepath.Join(out, "images"), 3)
	WriteJSONL(s, ims.Records, filepath.Join(out, "images"), "results", 1)
	WriteJSONL(s, ims.DeadLetter, filepath.Join(out, "images"), "deadletter", 1)
	WriteIndex(s.Scope("texts"), txs.Records, filepath.Join(out, "texts"), 2)
	counters, err := runPrism(t, p)
	if err != nil {
		t.Fatal(err)
	}
	distinct := map[string]bool{}
	for _, x := range texts {
		distinct[x] = true
	}
	checkCounters(t, counters, int64(len(good)+len(texts)), int64(len(bad)))

	m := load(t, dir)
	em := m.(goformer.Embedder)
	ctx := context.Background()
	want := map[string][]float32{}
	for _, g := range good {
		img, _ := goformer.DecodeImageFile(g)
		v, err := em.EmbedImages(ctx, []image.Image{img})
		if err != nil {
			t.Fatal(err)
		}
		want[g] = v[0]
	}
	tv, err := em.EmbedTexts(ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range texts {
		want[x] = tv[i]
	}
	// Batched and single calls agree to float32 rounding.
	const tol = 1e-6
	check := func(id string, got []float32) {
		t.Helper()
		w, ok := want[id]
		if !ok {
			t.Errorf("unexpected id %q", id)
			return
		}
		if len(got) != len(w) {
			t.Fatalf("%s: %d values, want %d", id, len(got), len(w))
		}
		var d float64
		for i := range w {
			d = max(d, math.Abs(float64(got[i]-w[i])))
		}
		if d > tol {
			t.Errorf("%s: vector differs from the library's by %g", id, d)
		}
	}

	recs := readRecords(t, filepath.Join(out, "images", "results-*.jsonl"))
	if len(recs) != len(good) {
		t.Errorf("%d image records, want %d", len(recs), len(good))
	}
	for id, r := range recs {
		var e Embedding
		if err := json.Unmarshal(r.Result, &e); err != nil {
			t.Fatal(err)
		}
		if e.Dim != len(e.Vector) || r.ModelFingerprint == "" {
			t.Errorf("%s: dim %d, %d values, fingerprint %q", id, e.Dim, len(e.Vector), r.ModelFingerprint)
		}
		check(id, e.Vector)
	}
	if dead := readDead(t, filepath.Join(out, "images", "deadletter-*.jsonl")); len(dead) != len(bad) {
		t.Errorf("%d dead letters, want %d: %v", len(dead), len(bad), dead)
	}

	searcher := m.(goformer.Searcher)
	for _, c := range []struct {
		name   string
		shards int
		ids    int
	}{{"images", 3, len(good)}, {"texts", 2, len(distinct)}} {
		seen := map[string]int{}
		lines, files := testref.ReadLines(t, filepath.Join(out, c.name, "vectors-*.jsonl"))
		if len(files) != c.shards {
			t.Errorf("%s: %d vectors shards, want %d", c.name, len(files), c.shards)
		}
		for _, l := range lines {
			var v VectorLine
			if err := json.Unmarshal([]byte(l), &v); err != nil {
				t.Fatal(err)
			}
			seen[v.ID]++
			check(v.ID, v.Vector)
		}
		idx, _ := filepath.Glob(filepath.Join(out, c.name, "index-*.gfidx"))
		total := 0
		for _, f := range idx {
			ix, err := searcher.LoadIndex(f)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			total += ix.Len()
			// The best match for an indexed text is the text itself.
			if c.name == "texts" && ix.Len() > 0 {
				ms, err := ix.SearchText(ctx, "a rocket", 1)
				if err != nil {
					t.Fatal(err)
				}
				if _, ok := seen["a rocket"]; ok && shardOf("a rocket", c.shards) == shardIndex(f) && ms[0].ID != "a rocket" {
					t.Errorf("%s: search for an indexed text found %q", f, ms[0].ID)
				}
			}
		}
		if len(seen) != c.ids || total != c.ids {
			t.Errorf("%s: %d distinct ids in vectors, %d entries in %d index files, want %d", c.name, len(seen), total, len(idx), c.ids)
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("%s: %q written %d times", c.name, id, n)
			}
		}
	}
}

// shardIndex returns the shard number of a file named name-SSSSS-of-NNNNN.ext.
func shardIndex(file string) int {
	base := filepath.Base(file)
	i := strings.Index(base, "-of-")
	n := 0
	for _, r := range base[i-5 : i] {
		n = n*10 + int(r-'0')
	}
	return n
}

// TestTranscribe runs Whisper (long-form, with subtitles) and wav2vec2 on
// Prism and compares the records and subtitle files with the library's.
func TestTranscribe(t *testing.T) {
	jfk := testPath(t, "media", "audio", "jfk16k.wav")
	flac := testPath(t, "media", "audio", "jfk.flac")
	long := testPath(t, "fixtures", "whisper-openai", "long16k.wav")
	notAudio := testPath(t, "media", "images", "rocket.jpg")
	missing := filepath.Join(t.TempDir(), "missing.wav")
	ctx := context.Background()
	cases := []struct {
		name, fixture string
		inputs        []string
		opt           goformer.TranscribeOptions
		subtitles     []string
	}{
		{"whisper", "whisper", []string{jfk, flac}, goformer.TranscribeOptions{Temperatures: []float64{0}}, []string{"srt", "vtt"}},
		{"whisper-long", "whisper-openai", []string{long}, goformer.TranscribeOptions{Temperatures: []float64{0}, Language: "en"}, []string{"srt"}},
		{"wav2vec2", "wav2vec2", []string{jfk, flac}, goformer.TranscribeOptions{}, nil},
	}
	out := t.TempDir()
	p, s := beam.NewPipelineWithRoot()
	for _, c := range cases {
		prefix := filepath.Join(out, c.name)
		inputs := append(append([]string(nil), c.inputs...), notAudio, missing)
		res := Transcribe(s.Scope(c.name), beam.CreateList(s, inputs), Config{
			Model: fixtureModel(t, c.fixture), Transcribe: c.opt, Subtitles: c.subtitles, Output: prefix,
		})
		WriteJSONL(s, res.Records, prefix, "results", 1)
		WriteJSONL(s, res.DeadLetter, prefix, "deadletter", 1)
	}
	counters, err := runPrism(t, p)
	if err != nil {
		t.Fatal(err)
	}
	var wantAudio float64
	var done int64
	for _, c := range cases {
		prefix := filepath.Join(out, c.name)
		recs := readRecords(t, filepath.Join(prefix, "results-*.jsonl"))
		dead := readDead(t, filepath.Join(prefix, "deadletter-*.jsonl"))
		if _, ok := dead[notAudio]; !ok || len(dead) != 2 {
			t.Errorf("%s: dead letters %v, want the image and the missing file", c.name, dead)
		}
		if _, ok := dead[missing]; !ok {
			t.Errorf("%s: the missing file is not a dead letter", c.name)
		}
		m := load(t, fixtureModel(t, c.fixture))
		tr := m.(goformer.Transcriber)
		for _, in := range c.inputs {
			f, err := os.Open(in)
			if err != nil {
				t.Fatal(err)
			}
			pcm, err := goformer.DecodeAudio(f, tr.SampleRate())
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			want, err := tr.Transcribe(ctx, pcm, c.opt)
			if err != nil {
				t.Fatal(err)
			}
			r, ok := recs[in]
			if !ok {
				t.Errorf("%s: no record for %s", c.name, in)
				continue
			}
			done++
			audio := float64(len(pcm)) / float64(tr.SampleRate())
			wantAudio += audio
			if got, w := string(r.Result), mustJSON(t, want); got != w {
				t.Errorf("%s %s: result\n%.400s\nlibrary\n%.400s", c.name, filepath.Base(in), got, w)
			}
			if math.Abs(r.Timings.Audio-audio) > 1e-9 {
				t.Errorf("%s %s: audio %v s, want %v", c.name, filepath.Base(in), r.Timings.Audio, audio)
			}
			if len(r.Files) != len(c.subtitles) {
				t.Errorf("%s %s: files %v, want %d", c.name, filepath.Base(in), r.Files, len(c.subtitles))
			}
			for i, format := range c.subtitles {
				name := filepath.Join(prefix, "subtitles", outputName(in, format))
				if i < len(r.Files) && r.Files[i] != name {
					t.Errorf("record names %s, want %s", r.Files[i], name)
				}
				got, err := os.ReadFile(name)
				if err != nil {
					t.Error(err)
					continue
				}
				var w bytes.Buffer
				if format == "srt" {
					err = transcript.WriteSRT(&w, want)
				} else {
					err = transcript.WriteVTT(&w, want)
				}
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, w.Bytes()) {
					t.Errorf("%s: %s differs from the library's", c.name, name)
				}
			}
		}
	}
	checkCounters(t, counters, done, int64(2*len(cases)))
	if got := float64(counters["audio_ms"]) / 1000; math.Abs(got-wantAudio) > 0.01*float64(done) {
		t.Errorf("audio_ms counter says %v s, want %v s", got, wantAudio)
	}
}

// TestRerunNoDuplicates fails a job part-way (after some shard files and
// subtitles were written), runs it again over the same output prefix, and
// again: each input has exactly one record, the shard files are exactly
// the configured ones, and no temporary file is left. Prism does not
// retry failed bundles (it fails the job), so a rerun stands for the
// retry. Overlapping globs list some files twice; they too are written
// once.
func TestRerunNoDuplicates(t *testing.T) {
	src := testPath(t, "media", "audio", "jfk16k.wav")
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	in := t.TempDir()
	var inputs []string
	for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
		p := filepath.Join(in, n+".wav")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, p)
	}
	if err := os.WriteFile(filepath.Join(in, "bad.wav"), []byte("RIFF not really"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	const shards = 3
	build := func() *beam.Pipeline {
		p, s := beam.NewPipelineWithRoot()
		files := Files(s, filepath.Join(in, "*.wav"), filepath.Join(in, "[ab].wav"))
		res := Transcribe(s, files, Config{Model: fixtureModel(t, "wav2vec2"), Subtitles: []string{"srt"}, Output: out, Parallelism: 2})
		WriteJSONL(s, res.Records, out, "results", shards)
		WriteJSONL(s, res.DeadLetter, out, "deadletter", 1)
		return p
	}
	var writes atomic.Int32
	var mu sync.Mutex
	var failed []string
	defer func() { testHookWrite = nil; testHookInfer = nil }()
	// First run: the second shard written fails.
	testHookWrite = func(name string) error {
		if strings.Contains(name, "results-") && writes.Add(1) == 2 {
			mu.Lock()
			failed = append(failed, name)
			mu.Unlock()
			return errors.New("simulated worker failure")
		}
		return nil
	}
	if _, err := runPrism(t, build()); err == nil {
		t.Fatal("the job with a failing write succeeded")
	}
	if len(failed) != 1 {
		t.Fatalf("the write hook failed %d writes", len(failed))
	}
	// Second run: inference fails on one input, after others were done.
	testHookWrite = nil
	var seen atomic.Int32
	testHookInfer = func(key string) error {
		if seen.Add(1) == 4 {
			return errors.New("simulated failure during inference")
		}
		return nil
	}
	if _, err := runPrism(t, build()); err == nil {
		t.Fatal("the job with a failing inference succeeded")
	}
	testHookInfer = nil
	for run := 0; run < 2; run++ {
		counters, err := runPrism(t, build())
		if err != nil {
			t.Fatal(err)
		}
		// Overlapping globs feed a.wav and b.wav twice: the transform sees
		// them twice, the written output has them once.
		checkCounters(t, counters, int64(len(inputs)+2), 1)
		recs := readRecords(t, filepath.Join(out, "results-*.jsonl"))
		if len(recs) != len(inputs) {
			t.Errorf("run %d: %d records, want %d", run, len(recs), len(inputs))
		}
		for _, p := range inputs {
			if _, ok := recs[p]; !ok {
				t.Errorf("run %d: no record for %s", run, p)
			}
		}
		if dead := readDead(t, filepath.Join(out, "deadletter-*.jsonl")); len(dead) != 1 {
			t.Errorf("run %d: dead letters %v", run, dead)
		}
		all, _ := filepath.Glob(filepath.Join(out, "*"))
		subs, _ := filepath.Glob(filepath.Join(out, "subtitles", "*"))
		var names []string
		for _, f := range append(all, subs...) {
			names = append(names, filepath.Base(f))
		}
		sort.Strings(names)
		want := []string{"deadletter-00000-of-00001.jsonl", "results-00000-of-00003.jsonl", "results-00001-of-00003.jsonl", "results-00002-of-00003.jsonl", "subtitles"}
		for _, p := range inputs {
			want = append(want, outputName(p, "srt"))
		}
		sort.Strings(want)
		if !slices.Equal(names, want) {
			t.Errorf("run %d: output files\n%v\nwant\n%v", run, names, want)
		}
	}
}

// TestModelCache checks that concurrent users of one model share one load
// and that the last release closes it.
func TestModelCache(t *testing.T) {
	var loads, closes atomic.Int32
	orig := loadModel
	defer func() { loadModel = orig }()
	loadModel = func(ctx context.Context, l loadSpec) (goformer.Model, error) {
		loads.Add(1)
		if l.ref == "broken" {
			return nil, errors.New("no such model")
		}
		return &fakeModel{closes: &closes}, nil
	}
	ctx := context.Background()
	before := cachedModels()
	var wg sync.WaitGroup
	entries := make([]*entry, 8)
	for i := range entries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, err := acquire(ctx, loadSpec{ref: "m"}, 2)
			if err != nil {
				t.Error(err)
			}
			entries[i] = e
		}()
	}
	wg.Wait()
	if loads.Load() != 1 {
		t.Errorf("%d loads for 8 concurrent users", loads.Load())
	}
	other, err := acquire(ctx, loadSpec{ref: "m", weightType: "f16"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if loads.Load() != 2 || other == entries[0] {
		t.Error("another weight type shares the entry")
	}
	release(other)
	if closes.Load() != 1 {
		t.Fatalf("%d closes after releasing the only user of the f16 entry", closes.Load())
	}
	for i, e := range entries {
		if e != entries[0] {
			t.Fatal("users got different entries")
		}
		release(e)
		last := i == len(entries)-1
		if got := closes.Load(); last && got != 2 || !last && got != 1 {
			t.Fatalf("%d closes after %d of %d releases", got, i+1, len(entries))
		}
	}
	if cachedModels() != before {
		t.Errorf("%d models cached after the last release, %d before", cachedModels(), before)
	}
	if _, err := acquire(ctx, loadSpec{ref: "broken"}, 1); err == nil {
		t.Error("a failed load succeeded")
	}
	if _, err := acquire(ctx, loadSpec{ref: "broken"}, 1); err == nil || loads.Load() != 4 {
		t.Errorf("a failed load is not retried (%d loads)", loads.Load())
	}
}

type fakeModel struct{ closes *atomic.Int32 }

func (f *fakeModel) Close() error        { f.closes.Add(1); return nil }
func (f *fakeModel) Info() goformer.Info { return goformer.Info{Family: "fake"} }

// TestConfigCheck rejects configurations that cannot work before a job
// starts.
func TestConfigCheck(t *testing.T) {
	for _, c := range []struct {
		task string
		cfg  Config
	}{
		{TaskCaption, Config{}},
		{"translate-everything", Config{Model: "m"}},
		{TaskAnswer, Config{Model: "m"}},
		{TaskTranscribe, Config{Model: "m", Subtitles: []string{"srt"}}},
		{TaskTranscribe, Config{Model: "m", Subtitles: []string{"ass"}, Output: "o"}},
	} {
		if err := ValidateConfig(c.task, c.cfg); err == nil {
			t.Errorf("%s %+v accepted", c.task, c.cfg)
		}
	}
	if err := ValidateConfig(TaskAnswer, Config{Model: "m", Question: "why?"}); err != nil {
		t.Error(err)
	}
}

// TestOutputName: per-input names are stable, distinct for distinct paths,
// and safe as file names.
func TestOutputName(t *testing.T) {
	a := outputName("gs://b/x/talk 1.wav", "srt")
	if a != outputName("gs://b/x/talk 1.wav", "srt") || a == outputName("gs://b/y/talk 1.wav", "srt") {
		t.Errorf("names not stable or not distinct: %s", a)
	}
	if !strings.HasPrefix(a, "talk_1-") || !strings.HasSuffix(a, ".srt") || strings.ContainsAny(a, "/ :") {
		t.Errorf("name %q", a)
	}
	if joinPath("gs://b/out", "x") != "gs://b/out/x" || joinPath("gs://b/out/", "x") != "gs://b/out/x" {
		t.Error("joinPath")
	}
}
