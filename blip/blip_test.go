package blip

import (
	"context"
	"errors"
	"image"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/goformer/goformer/generate"
	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// tinyConfig is a small BLIP for tests that need no fixture.
func tinyConfig(task Task) Config {
	c := DefaultConfig()
	if task == TaskQuestionAnswering {
		c.Architectures = []string{"BlipForQuestionAnswering"}
	} else {
		c.Architectures = []string{"BlipForConditionalGeneration"}
	}
	c.Text.HiddenSize, c.Text.EncoderHiddenSize, c.Text.IntermediateSize = 32, 32, 64
	c.Text.NumHiddenLayers, c.Text.NumAttentionHeads = 2, 2
	c.Text.MaxPositionEmbeddings = 40
	c.Vision.HiddenSize, c.Vision.IntermediateSize = 32, 64
	c.Vision.NumHiddenLayers, c.Vision.NumAttentionHeads = 2, 4
	c.Vision.ImageSize, c.Vision.PatchSize = 64, 16
	return c
}

func tinyModel(t *testing.T, task Task) *Model {
	t.Helper()
	return tinyModelSEP(t, task, 0)
}

// tinyModelSEP is tinyModel with sepBias added to [SEP]'s output bias, to
// make texts end early.
func tinyModelSEP(t *testing.T, task Task, sepBias float32) *Model {
	t.Helper()
	cfg := tinyConfig(task)
	store := randomStore(cfg, task, 7)
	b, _ := store.Get("text_decoder.cls.predictions.bias")
	b.Data()[cfg.Text.SepTokenID] += sepBias
	m, err := New(cfg, store.Root())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func tinyPixels(cfg Config, n int) *tensor.Tensor {
	v := cfg.Vision
	px := tensor.New(n, v.NumChannels, v.ImageSize, v.ImageSize)
	for i, d := 0, px.Data(); i < len(d); i++ {
		d[i] = float32((i*7919)%509)/254 - 1
	}
	return px
}

func TestNewReportsAllMissingWeights(t *testing.T) {
	cfg := tinyConfig(TaskQuestionAnswering)
	store := randomStore(cfg, TaskQuestionAnswering, 1)
	store.Delete("vision_model.encoder.layers.1.mlp.fc2.bias")
	store.Delete("text_encoder.encoder.layer.0.crossattention.self.key.weight")
	store.Set("text_decoder.bert.embeddings.LayerNorm.weight", tensor.New(5))
	_, err := New(cfg, store.Root())
	expected.MissingWeights(t, err, "layers.1.mlp.fc2.bias", "layer.0.crossattention.self.key.weight", "embeddings.LayerNorm.weight")
}

func TestTaskFromWeights(t *testing.T) {
	for _, task := range []Task{TaskCaptioning, TaskQuestionAnswering} {
		cfg := tinyConfig(task)
		cfg.Architectures = nil
		m, err := New(cfg, randomStore(cfg, task, 1).Root())
		if err != nil {
			t.Fatal(err)
		}
		if m.Task() != task {
			t.Errorf("task %v, want %v", m.Task(), task)
		}
	}
	cfg := tinyConfig(TaskCaptioning)
	cfg.Architectures = []string{"BlipForImageTextRetrieval"}
	if _, err := New(cfg, randomStore(cfg, TaskCaptioning, 1).Root()); !errors.Is(err, nn.ErrUnsupportedArchitecture) {
		t.Errorf("retrieval checkpoint: %v, want ErrUnsupportedArchitecture", err)
	}
}

func TestBadInput(t *testing.T) {
	ctx := context.Background()
	m := tinyModel(t, TaskCaptioning)
	cfg := m.Config()
	for _, px := range []*tensor.Tensor{nil, tensor.New(1, 3, 32, 32), tensor.New(3, 64, 64), tensor.New(1, 1, 64, 64)} {
		if _, err := m.EncodeImages(ctx, px); !errors.Is(err, ErrInput) {
			t.Errorf("pixels %v: %v, want ErrInput", px, err)
		}
	}
	embeds, err := m.EncodeImages(ctx, tinyPixels(cfg, 2))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		prompt []int
		opts   Options
	}{
		{"token outside the vocabulary", []int{101, cfg.Text.VocabSize, 102}, Options{}},
		{"negative token", []int{101, -3, 102}, Options{}},
		{"prompt without [SEP]", []int{101}, Options{}},
		{"prompt too long", append(append([]int{101}, make([]int, 25)...), 102), Options{}},
		{"max length beyond positions", nil, Options{MaxLength: cfg.Text.MaxPositionEmbeddings + 1}},
		{"negative option", nil, Options{MaxNewTokens: -1}},
	}
	for _, c := range cases {
		if _, err := m.GenerateIDs(ctx, embeds, c.prompt, c.opts); !errors.Is(err, ErrInput) {
			t.Errorf("%s: %v, want ErrInput", c.name, err)
		}
	}
	if _, err := m.GenerateIDs(ctx, tensor.New(2, 5, 7), nil, Options{}); !errors.Is(err, ErrInput) {
		t.Errorf("mis-shaped embeddings: %v, want ErrInput", err)
	}
	if _, err := m.DecoderLogits(ctx, embeds, [][]int{{1, 2}}); !errors.Is(err, ErrInput) {
		t.Errorf("one row for two images: %v, want ErrInput", err)
	}
	if _, err := m.AnswerIDs(ctx, embeds, [][]int{{101, 102}, {101, 102}}, Options{}); !errors.Is(err, ErrTask) {
		t.Errorf("answering with a captioning model: %v, want ErrTask", err)
	}
	if _, err := m.Answer(ctx, []image.Image{image.NewRGBA(image.Rect(0, 0, 4, 4))}, []string{"what?"}, Options{}); !errors.Is(err, ErrTask) {
		t.Errorf("Answer with a captioning model: %v, want ErrTask", err)
	}
	// New has no processor or tokenizer: the image- and text-level calls
	// say so instead of failing obscurely.
	if _, err := m.Caption(ctx, []image.Image{image.NewRGBA(image.Rect(0, 0, 4, 4))}, Options{}); err == nil {
		t.Error("Caption without a tokenizer: no error")
	}

	q := tinyModel(t, TaskQuestionAnswering)
	if _, err := q.GenerateIDs(ctx, embeds, nil, Options{}); !errors.Is(err, ErrTask) {
		t.Errorf("captioning with a VQA model: %v, want ErrTask", err)
	}
	if _, err := q.AnswerIDs(ctx, embeds, [][]int{{101, 102}}, Options{}); !errors.Is(err, ErrInput) {
		t.Errorf("one question for two images: %v, want ErrInput", err)
	}
	if _, err := q.AnswerIDs(ctx, embeds, [][]int{{101, 102}, {}}, Options{}); !errors.Is(err, ErrInput) {
		t.Errorf("empty question: %v, want ErrInput", err)
	}
	long := make([]int, cfg.Text.MaxPositionEmbeddings+1)
	if _, err := q.AnswerIDs(ctx, embeds, [][]int{{101, 102}, long}, Options{}); !errors.Is(err, ErrInput) {
		t.Errorf("over-long question: %v, want ErrInput", err)
	}
}

// sepBias makes [SEP] about as likely as the best other token of the
// tiny random model.
const sepBias = 0.42

// TestBatchingAndConcurrency checks that a batch gives each image the
// result it gets alone, for captions (greedy and beam, with EOS reachable
// thanks to min/max settings) and padded questions, with calls running
// concurrently on one model.
func TestBatchingAndConcurrency(t *testing.T) {
	ctx := context.Background()
	cap := tinyModelSEP(t, TaskCaptioning, sepBias)
	vqa := tinyModelSEP(t, TaskQuestionAnswering, sepBias)
	px := tinyPixels(cap.Config(), 3)
	questions := [][]int{{101, 2054, 2003, 102}, {101, 2129, 2116, 4176, 2024, 1029, 102}, {101, 1029, 102}}
	prompt := []int{101, 1037, 5855, 1997, 102}
	opts := []Options{{MaxNewTokens: 6}, {NumBeams: 3, MaxNewTokens: 5}, {NumBeams: 2, RepetitionPenalty: 1.5, MaxLength: 9, EarlyStopping: new(generate.EarlyStoppingNever)}}

	run := func(px *tensor.Tensor, qs [][]int) [][][]int {
		var out [][][]int
		for _, o := range opts {
			e, err := cap.EncodeImages(ctx, px)
			if err != nil {
				t.Error(err)
				return nil
			}
			a, err := cap.GenerateIDs(ctx, e, nil, o)
			if err != nil {
				t.Error(err)
				return nil
			}
			b, err := cap.GenerateIDs(ctx, e, prompt, o)
			if err != nil {
				t.Error(err)
				return nil
			}
			e, _ = vqa.EncodeImages(ctx, px)
			c, err := vqa.AnswerIDs(ctx, e, qs, o)
			if err != nil {
				t.Error(err)
				return nil
			}
			out = append(out, a, b, c)
		}
		return out
	}
	batch := run(px, questions)
	var wg sync.WaitGroup
	for i := 0; i < px.Dim(0); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			one := run(px.Slice(0, i, i+1).Contiguous(), questions[i:i+1])
			for k := range one {
				if !slices.Equal(one[k][0], batch[k][i]) {
					t.Errorf("run %d, image %d: alone %v, in batch %v", k, i, one[k][0], batch[k][i])
				}
			}
		}()
	}
	wg.Wait()
	// [SEP] must end some texts early and not others, so that both paths
	// (finished rows leaving the batch, texts cut at the maximum) are
	// exercised.
	ended, full := 0, 0
	for _, r := range batch {
		for _, s := range r {
			if s[len(s)-1] == cap.Config().Text.SepTokenID {
				ended++
			} else {
				full++
			}
		}
	}
	t.Logf("%d texts ended with [SEP], %d ran to the maximum length", ended, full)
	if ended < 3 || full < 3 {
		t.Errorf("%d texts ended with [SEP], %d ran to the maximum length: adjust sepBias", ended, full)
	}
	// The prefix survives as [DEC] + prefix.
	for _, k := range []int{1, 4, 7} {
		for _, s := range batch[k] {
			if !slices.Equal(s[:4], []int{cap.Config().Text.BosTokenID, 1037, 5855, 1997}) {
				t.Errorf("conditional sequence %v does not start with [DEC] and the prefix", s)
			}
		}
	}
}

func TestCancel(t *testing.T) {
	m := tinyModel(t, TaskCaptioning)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.EncodeImages(ctx, tinyPixels(m.Config(), 1)); !errors.Is(err, context.Canceled) {
		t.Errorf("EncodeImages on a cancelled context: %v", err)
	}
}

// TestLimits checks that beams over generate.MaxBeams and token counts
// over the text model's positions are refused with ErrInput naming the
// limit, and that Caption and Answer refuse them before any model work (a
// cancelled context would otherwise be reported first).
func TestLimits(t *testing.T) {
	ctx := context.Background()
	m := tinyModel(t, TaskCaptioning)
	cfg := m.Config()
	embeds, err := m.EncodeImages(ctx, tinyPixels(cfg, 1))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		opts  Options
		limit int
	}{
		{Options{NumBeams: 1000}, generate.MaxBeams},
		{Options{NumBeams: generate.MaxBeams + 1}, generate.MaxBeams},
		{Options{MaxNewTokens: cfg.Text.MaxPositionEmbeddings + 1}, cfg.Text.MaxPositionEmbeddings},
		{Options{MaxNewTokens: int(^uint(0) >> 1)}, cfg.Text.MaxPositionEmbeddings},
	} {
		_, err := m.GenerateIDs(ctx, embeds, nil, c.opts)
		if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), strconv.Itoa(c.limit)) {
			t.Errorf("%+v: %v, want ErrInput naming %d", c.opts, err, c.limit)
		}
	}
	if _, err := m.GenerateIDs(ctx, embeds, nil, Options{NumBeams: generate.MaxBeams, MaxNewTokens: 3}); err != nil {
		t.Errorf("%d beams: %v", generate.MaxBeams, err)
	}

	dir := testdata.Fixture(t, "blip-caption")
	lm := loadModel(t, dir)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	if _, err := lm.Caption(cancelled, []image.Image{img}, Options{NumBeams: 1000}); !errors.Is(err, ErrInput) {
		t.Errorf("Caption with 1000 beams on a cancelled context: %v, want ErrInput first", err)
	}
	if _, err := lm.CaptionWithPrefix(cancelled, []image.Image{img}, "a photo of", Options{MaxNewTokens: 1 << 40}); !errors.Is(err, ErrInput) {
		t.Errorf("Caption with 2^40 new tokens on a cancelled context: %v, want ErrInput first", err)
	}
	qm := loadModel(t, testdata.Fixture(t, "blip-vqa"))
	if _, err := qm.Answer(cancelled, []image.Image{img}, []string{"what is it?"}, Options{NumBeams: 1000}); !errors.Is(err, ErrInput) {
		t.Errorf("Answer with 1000 beams on a cancelled context: %v, want ErrInput first", err)
	}
}
