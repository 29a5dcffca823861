package blip2

import (
	"context"
	"errors"
	"image"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/generate"
	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/llm"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/task"
	"github.com/goformer/goformer/tensor"
)

// fixturePixels returns the fixture's reference pixel values of image i
// ([1, 3, H, W]).
func fixturePixels(t *testing.T, dir string, i int) *tensor.Tensor {
	t.Helper()
	px := expTensor(t, dir, "pixel_values")
	return px.Slice(0, i, i+1).Clone()
}

func TestInputErrors(t *testing.T) {
	dir := testdata.Fixture(t, "blip2")
	m := loadModel(t, dir)
	ctx := context.Background()
	px := fixturePixels(t, dir, 0)
	size := m.Config().Vision.ImageSize
	v := m.Config().Text.VocabSize
	opt := m.DefaultOptions()
	withOpt := func(f func(o *llm.GenerateOptions)) llm.GenerateOptions {
		o := opt
		f(&o)
		return o
	}
	inputs := func() *tensor.Tensor {
		f, err := m.Encode(ctx, px)
		if err != nil {
			t.Fatal(err)
		}
		return f.LanguageInputs
	}()
	for _, c := range []struct {
		name string
		run  func() error
		want string
	}{
		{"nil pixels", func() error { _, err := m.Encode(ctx, nil); return err }, "nil"},
		{"wrong size", func() error { _, err := m.Encode(ctx, tensor.New(1, 3, size/2, size/2)); return err }, "shape"},
		{"wrong channels", func() error { _, err := m.Encode(ctx, tensor.New(1, 1, size, size)); return err }, "shape"},
		{"prompt count", func() error { _, err := m.GenerateIDs(ctx, px, [][]int{{2}, {2}}, opt); return err }, "prompts"},
		{"empty prompt", func() error { _, err := m.GenerateIDs(ctx, px, [][]int{{}}, opt); return err }, "empty"},
		{"id outside vocab", func() error { _, err := m.GenerateIDs(ctx, px, [][]int{{2, v}}, opt); return err }, "vocabulary"},
		{"negative beams", func() error {
			_, err := m.GenerateIDs(ctx, px, nil, withOpt(func(o *llm.GenerateOptions) { o.NumBeams = -1 }))
			return err
		}, "negative"},
		{"too many beams", func() error {
			_, err := m.GenerateIDs(ctx, px, nil, withOpt(func(o *llm.GenerateOptions) { o.NumBeams = generate.MaxBeams + 1 }))
			return err
		}, "limit"},
		{"too many tokens", func() error {
			_, err := m.GenerateIDs(ctx, px, nil, withOpt(func(o *llm.GenerateOptions) { o.MaxNewTokens = m.Config().Text.MaxPositions + 1 }))
			return err
		}, "limit"},
		{"positions", func() error {
			_, err := m.GenerateIDs(ctx, px, nil, withOpt(func(o *llm.GenerateOptions) { o.MaxNewTokens = m.Config().Text.MaxPositions }))
			return err
		}, "max_position_embeddings"},
		{"long prompt", func() error {
			_, err := m.GenerateIDs(ctx, px, [][]int{make([]int, m.Config().Text.MaxPositions)}, opt)
			return err
		}, "positions"},
		{"streaming a batch", func() error {
			o := opt
			o.OnToken = func(int) {}
			two, _ := tensor.Concat(0, inputs, inputs)
			_, err := m.GenerateFromInputs(ctx, two, nil, o)
			return err
		}, "OnToken"},
		{"inputs width", func() error { _, err := m.GenerateFromInputs(ctx, tensor.New(1, 8, 3), nil, opt); return err }, "shape"},
		{"logits rows", func() error { _, err := m.Logits(ctx, px, [][]int{{2}, {2}}); return err }, "rows"},
		{"logits empty", func() error { _, err := m.Logits(ctx, px, [][]int{{}}); return err }, "empty"},
		{"nil image", func() error { _, err := m.Caption(ctx, nil, "", Options{}); return err }, "nil"},
		{"empty image", func() error {
			_, err := m.Caption(ctx, image.NewRGBA(image.Rect(0, 0, 0, 0)), "", Options{})
			return err
		}, "empty"},
		{"no question", func() error {
			_, err := m.Answer(ctx, image.NewRGBA(image.Rect(0, 0, 8, 8)), " ", Options{})
			return err
		}, "question"},
		{"options: beams", func() error {
			_, err := m.Caption(ctx, image.NewRGBA(image.Rect(0, 0, 8, 8)), "", Options{NumBeams: generate.MaxBeams + 1})
			return err
		}, "limit"},
		{"options: negative", func() error {
			_, err := m.Caption(ctx, image.NewRGBA(image.Rect(0, 0, 8, 8)), "", Options{MaxNewTokens: -1})
			return err
		}, "negative"},
	} {
		err := c.run()
		if !errors.Is(err, ErrInput) || !errors.Is(err, task.ErrInput) {
			t.Errorf("%s: error %v, want one matching ErrInput", c.name, err)
		} else if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not say %q", c.name, err, c.want)
		}
	}
}

func TestCancel(t *testing.T) {
	dir := testdata.Fixture(t, "blip2")
	m := loadModel(t, dir)
	px := fixturePixels(t, dir, 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Encode(ctx, px); !errors.Is(err, context.Canceled) {
		t.Errorf("Encode: %v, want context.Canceled", err)
	}
	if _, err := m.GenerateIDs(ctx, px, nil, m.DefaultOptions()); !errors.Is(err, context.Canceled) {
		t.Errorf("GenerateIDs: %v, want context.Canceled", err)
	}
	if _, err := m.Caption(ctx, loadImage(t, "chelsea.png"), "", Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Caption: %v, want context.Canceled", err)
	}
	// Cancelled while generating: stops within a step.
	ctx, cancel = context.WithCancel(context.Background())
	n := 0
	opt := m.DefaultOptions()
	opt.MaxNewTokens, opt.MaxLength = 50, 0
	opt.OnToken = func(int) {
		if n++; n == 2 {
			cancel()
		}
	}
	if _, err := m.GenerateIDs(ctx, px, nil, opt); !errors.Is(err, context.Canceled) {
		t.Errorf("GenerateIDs cancelled while generating: %v", err)
	}
	if n > 3 {
		t.Errorf("%d tokens generated after cancelling at the second", n-2)
	}
}

func TestLifecycle(t *testing.T) {
	dir := testdata.Fixture(t, "blip2")
	md := filepath.Join(dir, "model")
	m, err := Load(md)
	if err != nil {
		t.Fatal(err)
	}
	if m.Processor() == nil || m.Tokenizer() == nil {
		t.Fatal("Load found no processor or tokenizer")
	}
	// WithProcessor and WithTokenizer copy.
	bare := m.WithProcessor(nil).WithTokenizer(nil)
	if m.Processor() == nil || m.Tokenizer() == nil {
		t.Error("With… changed the original")
	}
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	if _, err := bare.PixelValues([]image.Image{img}); err == nil || !strings.Contains(err.Error(), "processor") {
		t.Errorf("PixelValues without a processor: %v", err)
	}
	if _, err := bare.Caption(context.Background(), img, "", Options{}); err == nil || !strings.Contains(err.Error(), "tokenizer") {
		t.Errorf("Caption without a tokenizer: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	// New does not own the store.
	store, cfg := expected.StoreAndConfig(t, md, LoadConfig)
	n, err := New(cfg, store.Root())
	if err != nil {
		t.Fatal(err)
	}
	expected.CloseKeepsStore(t, n, store)
	px := fixturePixels(t, dir, 0)
	if _, err := n.Encode(context.Background(), px); err != nil {
		t.Errorf("Encode after Close of a model made by New: %v", err)
	}
}

// TestMissingWeights checks that every missing tensor is named in one
// error.
func TestMissingWeights(t *testing.T) {
	md := filepath.Join(testdata.Fixture(t, "blip2"), "model")
	full, err := checkpoint.LoadDir(md)
	if err != nil {
		t.Fatal(err)
	}
	defer full.Close()
	drop := []string{
		"query_tokens",
		"vision_model.post_layernorm.weight",
		"qformer.encoder.layer.0.crossattention.attention.key.weight",
		"language_projection.bias",
		"language_model.model.decoder.final_layer_norm.weight",
	}
	m := map[string]*tensor.Tensor{}
	for _, name := range full.Names() {
		if slices.Contains(drop, name) {
			continue
		}
		x, ok := full.Get(name)
		if !ok {
			t.Fatalf("%s listed but absent", name)
		}
		m[name] = x
	}
	cfg, err := LoadConfig(filepath.Join(md, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(cfg, checkpoint.NewStore("test", m).Root())
	expected.MissingWeights(t, err, drop...)
}

// TestConcurrent runs captions of several images at once and checks each
// against the same caption run alone.
func TestConcurrent(t *testing.T) {
	dir := testdata.Fixture(t, "blip2")
	c := readCases(t, dir)
	m := loadModel(t, dir)
	opt := Options{MaxNewTokens: 6}
	want := make([]Result, len(c.Images))
	imgs := make([]image.Image, len(c.Images))
	for i, name := range c.Images {
		imgs[i] = loadImage(t, name)
		r, err := m.Caption(context.Background(), imgs[i], "", opt)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = r
	}
	var wg sync.WaitGroup
	got := make([]Result, 2*len(imgs))
	errs := make([]error, len(got))
	for k := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[k], errs[k] = m.Caption(context.Background(), imgs[k%len(imgs)], "", opt)
		}()
	}
	wg.Wait()
	for k := range got {
		if errs[k] != nil {
			t.Fatal(errs[k])
		}
		if w := want[k%len(imgs)]; !slices.Equal(got[k].IDs, w.IDs) {
			t.Errorf("concurrent caption %d: %v, alone %v", k, got[k].IDs, w.IDs)
		}
	}
}

// TestHalfWeights loads the float32 fixture with weights packed as F16 and
// BF16 and measures the teacher-forced logits against the reference.
func TestHalfWeights(t *testing.T) {
	dir := testdata.Fixture(t, "blip2")
	c := readCases(t, dir)
	want := expTensor(t, dir, "teacher_forced_logits")
	i := slices.Index(c.Images, c.TeacherForced.Image)
	if i < 0 || len(c.TeacherForced.IDs) == 0 {
		testdata.Missing(t, "blip2 teacher_forced case")
	}
	px := fixturePixels(t, dir, i)
	scale := 0.0
	for _, x := range want.Data() {
		scale = math.Max(scale, math.Abs(float64(x)))
	}
	for _, wt := range []struct {
		typ tensor.WeightType
		tol float64 // relative to the largest logit
	}{{tensor.WeightF16, 5e-3}, {tensor.WeightBF16, 5e-2}} {
		m := testdata.LoadModel(t, dir, Load, nn.WithWeightType(wt.typ))
		lg, err := m.Logits(context.Background(), px, [][]int{c.TeacherForced.IDs})
		if err != nil {
			t.Fatal(err)
		}
		d := 0.0
		for k, x := range lg.Data() {
			d = math.Max(d, math.Abs(float64(x)-float64(want.Data()[k])))
		}
		t.Logf("%v weights: teacher-forced logits max|Δ| = %.3g (%.2g of the largest logit %.3g)", wt.typ, d, d/scale, scale)
		if !(d <= wt.tol*scale) {
			t.Errorf("%v weights: max|Δ| %g over %g of the largest logit", wt.typ, d, wt.tol)
		}
		m.Close()
	}
}
