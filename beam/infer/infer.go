package infer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"math"
	"reflect"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/goformer/goformer"
	"github.com/goformer/goformer/transcript"
)

// Task names, as Config and the goformer-beam command take them.
const (
	TaskTranscribe  = "transcribe"   // speech files to text (Transcriber)
	TaskCaption     = "caption"      // images to captions (Captioner)
	TaskAnswer      = "answer"       // images to answers to Config.Question (Answerer)
	TaskClassify    = "classify"     // images to labels (Classifier)
	TaskEmbedImages = "embed-images" // images to vectors (Embedder)
	TaskEmbedTexts  = "embed-texts"  // texts (not paths) to vectors (Embedder)
)

// Config says which model runs, with which options, and how.
type Config struct {
	// Model is a Hub id ("openai/whisper-base") or a folder every worker
	// can read.
	Model string `json:"model"`
	// WeightType packs float32 linear weights as "f16" or "bf16" (half the
	// memory); "" or "f32" keeps them.
	WeightType string `json:"weight_type,omitempty"`

	// Transcribe configures TaskTranscribe (OnSegment is not used).
	Transcribe goformer.TranscribeOptions `json:"transcribe,omitempty"`
	// Subtitles lists subtitle formats ("srt", "vtt") written for each
	// transcribed input under Output, named by a hash of the input path.
	Subtitles []string `json:"subtitles,omitempty"`
	// Output is the folder or URI prefix per-input files go to.
	Output string `json:"output,omitempty"`

	// Caption configures TaskCaption.
	Caption goformer.CaptionOptions `json:"caption,omitempty"`
	// Question is what TaskAnswer asks about every image.
	Question string `json:"question,omitempty"`
	// Answer configures TaskAnswer.
	Answer goformer.AnswerOptions `json:"answer,omitempty"`
	// Classify configures TaskClassify.
	Classify goformer.ClassifyOptions `json:"classify,omitempty"`

	// BatchSize is the number of inputs per model call for the tasks whose
	// models take batches (embeddings); 0 means 8.
	BatchSize int `json:"batch_size,omitempty"`
	// Parallelism bounds the model calls running at once in one worker
	// process; 0 means 1.
	Parallelism int `json:"parallelism,omitempty"`
}

func (c Config) batchSize() int {
	if c.BatchSize <= 0 {
		return 8
	}
	return c.BatchSize
}

func (c Config) parallelism() int {
	if c.Parallelism <= 0 {
		return 1
	}
	return c.Parallelism
}

// options returns the task's own options, as records show them.
func (c Config) options(taskName string) any {
	switch taskName {
	case TaskTranscribe:
		return c.Transcribe
	case TaskCaption:
		return c.Caption
	case TaskAnswer:
		return struct {
			Question string `json:"question"`
			goformer.AnswerOptions
		}{c.Question, c.Answer}
	case TaskClassify:
		return c.Classify
	case TaskEmbedImages, TaskEmbedTexts:
		return struct {
			BatchSize int `json:"batch_size"`
		}{c.batchSize()}
	}
	return nil
}

// check reports what is wrong with c for taskName, before a job starts.
func (c Config) check(taskName string) error {
	if c.Model == "" {
		return errors.New("goformer/beam: Config.Model is empty (give a Hub id or a folder the workers can read)")
	}
	if _, err := parseWeightType(c.WeightType); err != nil {
		return err
	}
	switch taskName {
	case TaskTranscribe:
		for _, f := range c.Subtitles {
			if f != "srt" && f != "vtt" {
				return fmt.Errorf("goformer/beam: subtitle format %q (want srt or vtt)", f)
			}
		}
		if len(c.Subtitles) > 0 && c.Output == "" {
			return errors.New("goformer/beam: subtitles need Config.Output")
		}
	case TaskAnswer:
		if strings.TrimSpace(c.Question) == "" {
			return errors.New("goformer/beam: the answer task needs Config.Question")
		}
	case TaskCaption, TaskClassify, TaskEmbedImages, TaskEmbedTexts:
	default:
		return fmt.Errorf("goformer/beam: unknown task %q", taskName)
	}
	return nil
}

// Record is one JSON line of Result.Records.
type Record struct {
	// Path is the input file (empty for TaskEmbedTexts).
	Path string `json:"path,omitempty"`
	// Text is the input text of TaskEmbedTexts.
	Text string `json:"text,omitempty"`
	// Task is the task that made the record.
	Task string `json:"task"`
	// Model is Config.Model.
	Model string `json:"model"`
	// ModelFingerprint identifies the model's embedding space (embeddings
	// of CLIP models; WriteIndex records it in the index).
	ModelFingerprint string `json:"model_fingerprint,omitempty"`
	// Options are the task's options.
	Options json.RawMessage `json:"options,omitempty"`
	// Result is what the library returned: a goformer.Transcript, a
	// CaptionResult, an AnswerResult, a list of Predictions, or an
	// Embedding.
	Result json.RawMessage `json:"result"`
	// Files are the per-input files written (subtitles).
	Files []string `json:"files,omitempty"`
	// Timings tell where the time went.
	Timings Timings `json:"timings"`
}

// Key returns the record's key: the input path, or the text.
func (r *Record) Key() string {
	if r.Path != "" {
		return r.Path
	}
	return r.Text
}

// Embedding is the Result of the embedding tasks.
type Embedding struct {
	Dim    int       `json:"dim"`
	Vector []float32 `json:"vector"`
}

// Timings of one input, in seconds. For batched model calls, Infer is the
// call's time divided by the batch's size.
type Timings struct {
	Decode float64 `json:"decode_seconds"`
	Infer  float64 `json:"infer_seconds"`
	// Audio is the length of transcribed audio.
	Audio float64 `json:"audio_seconds,omitempty"`
}

// DeadLetterRecord is one JSON line of Result.DeadLetter.
type DeadLetterRecord struct {
	Path  string `json:"path"`
	Task  string `json:"task"`
	Model string `json:"model"`
	Error string `json:"error"`
}

// Result is what an inference transform returns. Both collections are
// PCollection<KV<string, string>>: the input's key (path, or text for
// TaskEmbedTexts) and a JSON line (a Record, or a DeadLetterRecord).
type Result struct {
	Records    beam.PCollection
	DeadLetter beam.PCollection
}

var (
	inputsDone = beam.NewCounter("goformer", "inputs_done")
	errorCount = beam.NewCounter("goformer", "errors")
	audioMS    = beam.NewCounter("goformer", "audio_ms")
	decodeMS   = beam.NewCounter("goformer", "decode_ms")
	inferMS    = beam.NewCounter("goformer", "infer_ms")
)

func init() {
	register.DoFn4x1[context.Context, string, func(string, string), func(string, string), error](&inferFn{})
	register.Emitter2[string, string]()
	beam.RegisterType(reflect.TypeOf((*inferFn)(nil)).Elem())
}

// Transcribe transcribes the speech files of paths (any format DecodeAudio
// reads; long recordings are transcribed window by window as the library
// does) with cfg.Transcribe, writing cfg.Subtitles under cfg.Output.
func Transcribe(s beam.Scope, paths beam.PCollection, cfg Config) Result {
	return Run(s.Scope("goformer.Transcribe"), TaskTranscribe, paths, cfg)
}

// Caption captions the images of paths.
func Caption(s beam.Scope, paths beam.PCollection, cfg Config) Result {
	return Run(s.Scope("goformer.Caption"), TaskCaption, paths, cfg)
}

// Answer answers cfg.Question about each image of paths.
func Answer(s beam.Scope, paths beam.PCollection, cfg Config) Result {
	return Run(s.Scope("goformer.Answer"), TaskAnswer, paths, cfg)
}

// Classify labels the images of paths.
func Classify(s beam.Scope, paths beam.PCollection, cfg Config) Result {
	return Run(s.Scope("goformer.Classify"), TaskClassify, paths, cfg)
}

// EmbedImages embeds the images of paths, cfg.BatchSize per model call.
func EmbedImages(s beam.Scope, paths beam.PCollection, cfg Config) Result {
	return Run(s.Scope("goformer.EmbedImages"), TaskEmbedImages, paths, cfg)
}

// EmbedTexts embeds texts (a PCollection<string> of the texts themselves),
// cfg.BatchSize per model call.
func EmbedTexts(s beam.Scope, texts beam.PCollection, cfg Config) Result {
	return Run(s.Scope("goformer.EmbedTexts"), TaskEmbedTexts, texts, cfg)
}

// Run applies the task named taskName (TaskTranscribe, …) to inputs, a
// PCollection<string>. A Config that cannot work (no model, unknown task
// or options) panics at pipeline construction, as Beam's own transforms
// do; ValidateConfig checks one beforehand.
func Run(s beam.Scope, taskName string, inputs beam.PCollection, cfg Config) Result {
	if err := cfg.check(taskName); err != nil {
		panic(err)
	}
	spec, err := json.Marshal(cfg)
	if err != nil {
		panic(err)
	}
	recs, dead := beam.ParDo2(s, &inferFn{Task: taskName, Spec: string(spec)}, inputs)
	return Result{Records: recs, DeadLetter: dead}
}

// ValidateConfig reports what is wrong with cfg for taskName.
func ValidateConfig(taskName string, cfg Config) error { return cfg.check(taskName) }

// testHookInfer, when set (by tests, in process), is called before each
// input is processed; an error it returns fails the bundle.
var testHookInfer func(key string) error

// inferFn runs one task over a collection of inputs. Its exported fields
// are what Beam serializes to the workers.
type inferFn struct {
	Task string
	Spec string // Config as JSON

	cfg      Config
	options  json.RawMessage
	model    *entry
	fs       fileSystems
	buf      []string
	maxBuf   int
	batching bool
}

func (f *inferFn) Setup(ctx context.Context) error {
	if err := json.Unmarshal([]byte(f.Spec), &f.cfg); err != nil {
		return fmt.Errorf("goformer/beam: config: %w", err)
	}
	if err := f.cfg.check(f.Task); err != nil {
		return err
	}
	opts, err := json.Marshal(f.cfg.options(f.Task))
	if err != nil {
		return err
	}
	f.options = opts
	e, err := acquire(ctx, loadSpec{ref: f.cfg.Model, weightType: f.cfg.WeightType}, f.cfg.parallelism())
	if err != nil {
		return fmt.Errorf("goformer/beam: loading %s: %w", f.cfg.Model, err)
	}
	if err := supports(e.model, f.Task); err != nil {
		release(e)
		return err
	}
	f.model = e
	f.batching = f.Task == TaskEmbedImages || f.Task == TaskEmbedTexts
	f.maxBuf = f.cfg.parallelism()
	if f.batching {
		f.maxBuf *= f.cfg.batchSize()
	}
	return nil
}

// supports reports whether m does taskName.
func supports(m goformer.Model, taskName string) error {
	ok := false
	switch taskName {
	case TaskTranscribe:
		_, ok = m.(goformer.Transcriber)
	case TaskCaption:
		_, ok = m.(goformer.Captioner)
	case TaskAnswer:
		_, ok = m.(goformer.Answerer)
	case TaskClassify:
		_, ok = m.(goformer.Classifier)
	case TaskEmbedImages, TaskEmbedTexts:
		_, ok = m.(goformer.Embedder)
	}
	if !ok {
		info := m.Info()
		return fmt.Errorf("goformer/beam: %s is a %s model (it does %s), not one for %s", info.Path, info.Family, strings.Join(info.Tasks, ", "), taskName)
	}
	return nil
}

func (f *inferFn) Teardown() {
	if f.model != nil {
		release(f.model)
		f.model = nil
	}
	f.fs.close()
}

// StartBundle takes the emitters because FinishBundle emits (Beam wants
// both to have them).
func (f *inferFn) StartBundle(_ context.Context, _, _ func(string, string)) { f.buf = f.buf[:0] }

func (f *inferFn) ProcessElement(ctx context.Context, in string, rec, dead func(string, string)) error {
	f.buf = append(f.buf, in)
	if len(f.buf) >= f.maxBuf {
		return f.flush(ctx, rec, dead)
	}
	return nil
}

func (f *inferFn) FinishBundle(ctx context.Context, rec, dead func(string, string)) error {
	return f.flush(ctx, rec, dead)
}

// outcome is what became of one input.
type outcome struct {
	rec *Record
	err error // the input's error (dead letter)
}

// flush runs the buffered inputs, Parallelism model calls at a time, and
// emits their outcomes in input order.
func (f *inferFn) flush(ctx context.Context, emitRec, emitDead func(string, string)) error {
	items := f.buf
	f.buf = f.buf[:0]
	if len(items) == 0 {
		return nil
	}
	size := 1
	if f.batching {
		size = f.cfg.batchSize()
	}
	var chunks [][]string
	for lo := 0; lo < len(items); lo += size {
		chunks = append(chunks, items[lo:min(lo+size, len(items))])
	}
	outs := make([][]outcome, len(chunks))
	fatal := make([]error, len(chunks))
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < min(f.cfg.parallelism(), len(chunks)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				outs[i], fatal[i] = f.runChunk(ctx, chunks[i])
			}
		}()
	}
	for i := range chunks {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(fatal...); err != nil {
		return err
	}
	for i, chunk := range chunks {
		for j, o := range outs[i] {
			key := chunk[j]
			if o.err != nil {
				line, _ := json.Marshal(DeadLetterRecord{Path: key, Task: f.Task, Model: f.cfg.Model, Error: o.err.Error()})
				emitDead(key, string(line))
				errorCount.Inc(ctx, 1)
				continue
			}
			line, err := json.Marshal(o.rec)
			if err != nil {
				return fmt.Errorf("goformer/beam: record for %s: %w", key, err)
			}
			emitRec(key, string(line))
			inputsDone.Inc(ctx, 1)
			decodeMS.Inc(ctx, int64(math.Round(o.rec.Timings.Decode*1000)))
			inferMS.Inc(ctx, int64(math.Round(o.rec.Timings.Infer*1000)))
			audioMS.Inc(ctx, int64(math.Round(o.rec.Timings.Audio*1000)))
		}
	}
	return nil
}

// runChunk runs the inputs of one model call. Errors of an input become
// its outcome; the returned error (cancellation, a test fault) fails the
// bundle.
func (f *inferFn) runChunk(ctx context.Context, keys []string) ([]outcome, error) {
	if testHookInfer != nil {
		for _, k := range keys {
			if err := testHookInfer(k); err != nil {
				return nil, err
			}
		}
	}
	var outs []outcome
	switch f.Task {
	case TaskEmbedImages:
		outs = f.embedImages(ctx, keys)
	case TaskEmbedTexts:
		outs = f.embedTexts(ctx, keys)
	default:
		outs = []outcome{f.one(ctx, keys[0])}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return outs, nil
}

// guard runs fn, turning a panic into an error naming the input, so that
// one input that trips a bug becomes a dead letter instead of failing the
// job.
func guard(key string, fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic on %s: %v\n%s", key, r, debug.Stack())
		}
	}()
	return fn()
}

func seconds(d time.Duration) float64 { return d.Seconds() }

// one runs a single-input task on path.
func (f *inferFn) one(ctx context.Context, path string) outcome {
	rec := &Record{Path: path, Task: f.Task, Model: f.cfg.Model, Options: f.options}
	var result any
	err := guard(path, func() error {
		t0 := time.Now()
		data, err := f.fs.read(ctx, path)
		if err != nil {
			return fmt.Errorf("reading %s: %w", path, err)
		}
		m := f.model.model
		if f.Task == TaskTranscribe {
			t := m.(goformer.Transcriber)
			pcm, err := goformer.DecodeAudio(bytes.NewReader(data), t.SampleRate())
			if err != nil {
				return fmt.Errorf("decoding %s: %w", path, err)
			}
			rec.Timings.Decode = seconds(time.Since(t0))
			rec.Timings.Audio = float64(len(pcm)) / float64(t.SampleRate())
			var tr *goformer.Transcript
			err = f.model.call(ctx, func() error {
				t1 := time.Now()
				defer func() { rec.Timings.Infer = seconds(time.Since(t1)) }()
				tr, err = t.Transcribe(ctx, pcm, f.cfg.Transcribe)
				return err
			})
			if err != nil {
				return fmt.Errorf("transcribing %s: %w", path, err)
			}
			result = tr
			files, err := f.writeSubtitles(ctx, path, tr)
			rec.Files = files
			return err
		}
		img, err := goformer.DecodeImage(bytes.NewReader(data))
		if err != nil {
			return fmt.Errorf("decoding %s: %w", path, err)
		}
		rec.Timings.Decode = seconds(time.Since(t0))
		return f.model.call(ctx, func() error {
			t1 := time.Now()
			defer func() { rec.Timings.Infer = seconds(time.Since(t1)) }()
			var err error
			switch f.Task {
			case TaskCaption:
				result, err = m.(goformer.Captioner).Caption(ctx, img, f.cfg.Caption)
			case TaskAnswer:
				result, err = m.(goformer.Answerer).Answer(ctx, img, f.cfg.Question, f.cfg.Answer)
			case TaskClassify:
				result, err = m.(goformer.Classifier).Classify(ctx, img, f.cfg.Classify)
			default:
				err = fmt.Errorf("unknown task %q", f.Task)
			}
			if err != nil {
				return fmt.Errorf("%s %s: %w", f.Task, path, err)
			}
			return nil
		})
	})
	if err != nil {
		return outcome{err: err}
	}
	raw, err := json.Marshal(result)
	if err != nil {
		return outcome{err: fmt.Errorf("%s: result: %w", path, err)}
	}
	rec.Result = raw
	return outcome{rec: rec}
}

// writeSubtitles writes the subtitle files of one transcript.
func (f *inferFn) writeSubtitles(ctx context.Context, path string, tr *goformer.Transcript) ([]string, error) {
	var files []string
	for _, format := range f.cfg.Subtitles {
		var b bytes.Buffer
		var err error
		switch format {
		case "srt":
			err = transcript.WriteSRT(&b, tr)
		case "vtt":
			err = transcript.WriteVTT(&b, tr)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, format, err)
		}
		name := joinPath(joinPath(f.cfg.Output, "subtitles"), outputName(path, format))
		if err := f.fs.writeAtomic(ctx, name, b.Bytes()); err != nil {
			return nil, err
		}
		files = append(files, name)
	}
	return files, nil
}

// embedImages embeds a batch of images in one model call; inputs that
// cannot be read or decoded are left out of the call. When the call fails
// the images are embedded one by one, so that the failure lands on the
// input that caused it.
func (f *inferFn) embedImages(ctx context.Context, paths []string) []outcome {
	outs := make([]outcome, len(paths))
	var imgs []image.Image
	var idx []int
	for i, p := range paths {
		t0 := time.Now()
		var img image.Image
		err := guard(p, func() error {
			data, err := f.fs.read(ctx, p)
			if err != nil {
				return fmt.Errorf("reading %s: %w", p, err)
			}
			img, err = goformer.DecodeImage(bytes.NewReader(data))
			if err != nil {
				return fmt.Errorf("decoding %s: %w", p, err)
			}
			return nil
		})
		if err != nil {
			outs[i].err = err
			continue
		}
		outs[i].rec = &Record{Path: p, Task: f.Task, Model: f.cfg.Model, Options: f.options,
			Timings: Timings{Decode: seconds(time.Since(t0))}}
		imgs = append(imgs, img)
		idx = append(idx, i)
	}
	em := f.model.model.(goformer.Embedder)
	f.embedBatch(ctx, outs, idx, paths, func(sel []int) ([][]float32, error) {
		batch := make([]image.Image, len(sel))
		for j, k := range sel {
			batch[j] = imgs[k]
		}
		return em.EmbedImages(ctx, batch)
	})
	return outs
}

// embedTexts embeds a batch of texts in one model call.
func (f *inferFn) embedTexts(ctx context.Context, texts []string) []outcome {
	outs := make([]outcome, len(texts))
	idx := make([]int, len(texts))
	for i, t := range texts {
		outs[i].rec = &Record{Text: t, Task: f.Task, Model: f.cfg.Model, Options: f.options}
		idx[i] = i
	}
	em := f.model.model.(goformer.Embedder)
	f.embedBatch(ctx, outs, idx, texts, func(sel []int) ([][]float32, error) {
		batch := make([]string, len(sel))
		for j, k := range sel {
			batch[j] = texts[idx[k]]
		}
		return em.EmbedTexts(ctx, batch)
	})
	return outs
}

// embedBatch fills the records outs[idx[k]] with the vectors embed returns
// for the selection of k's, trying one input at a time when the whole
// batch fails.
func (f *inferFn) embedBatch(ctx context.Context, outs []outcome, idx []int, keys []string, embed func(sel []int) ([][]float32, error)) {
	if len(idx) == 0 {
		return
	}
	fp := ""
	if fpr, ok := f.model.model.(interface{ Fingerprint() string }); ok {
		fp = fpr.Fingerprint()
	}
	run := func(sel []int) error {
		var vecs [][]float32
		var took time.Duration
		err := guard(keys[idx[sel[0]]], func() error {
			return f.model.call(ctx, func() error {
				t0 := time.Now()
				var err error
				vecs, err = embed(sel)
				took = time.Since(t0)
				return err
			})
		})
		if err != nil {
			return err
		}
		if len(vecs) != len(sel) {
			return fmt.Errorf("model returned %d vectors for %d inputs", len(vecs), len(sel))
		}
		for j, k := range sel {
			rec := outs[idx[k]].rec
			raw, err := json.Marshal(Embedding{Dim: len(vecs[j]), Vector: vecs[j]})
			if err != nil {
				return err
			}
			rec.Result = raw
			rec.ModelFingerprint = fp
			rec.Timings.Infer = seconds(took) / float64(len(sel))
		}
		return nil
	}
	all := make([]int, len(idx))
	for k := range all {
		all[k] = k
	}
	if err := run(all); err == nil || ctx.Err() != nil {
		return
	}
	for k := range idx {
		if err := run([]int{k}); err != nil {
			i := idx[k]
			outs[i] = outcome{err: fmt.Errorf("embedding %s: %w", keys[i], err)}
		}
	}
}
