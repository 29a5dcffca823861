package vit

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// weightShapes lists the tensors of a transformers ViT checkpoint for cfg:
// ViTForImageClassification names ("vit." prefix and a classifier) when
// classes > 0, else bare ViTModel names.
func weightShapes(cfg Config, classes int) map[string][]int {
	d, f, p, c := cfg.HiddenSize, cfg.IntermediateSize, cfg.PatchSize, cfg.NumChannels
	n := (cfg.ImageSize / p) * (cfg.ImageSize / p)
	pre := ""
	if classes > 0 {
		pre = "vit."
	}
	s := map[string][]int{
		pre + "embeddings.cls_token":                          {1, 1, d},
		pre + "embeddings.position_embeddings":                {1, n + 1, d},
		pre + "embeddings.patch_embeddings.projection.weight": {d, c, p, p},
		pre + "embeddings.patch_embeddings.projection.bias":   {d},
		pre + "layernorm.weight":                              {d},
		pre + "layernorm.bias":                                {d},
	}
	for i := 0; i < cfg.NumHiddenLayers; i++ {
		l := fmt.Sprintf("%sencoder.layer.%d.", pre, i)
		for _, name := range []string{"attention.attention.query", "attention.attention.key", "attention.attention.value", "attention.output.dense"} {
			s[l+name+".weight"] = []int{d, d}
			s[l+name+".bias"] = []int{d}
		}
		s[l+"intermediate.dense.weight"] = []int{f, d}
		s[l+"intermediate.dense.bias"] = []int{f}
		s[l+"output.dense.weight"] = []int{d, f}
		s[l+"output.dense.bias"] = []int{d}
		for _, name := range []string{"layernorm_before", "layernorm_after"} {
			s[l+name+".weight"] = []int{d}
			s[l+name+".bias"] = []int{d}
		}
	}
	if classes > 0 {
		s["classifier.weight"] = []int{classes, d}
		s["classifier.bias"] = []int{classes}
	}
	return s
}

// randomStore fills a store with the tensors of shapes: N(0, 0.02²)
// weights, layer-norm scales near 1.
func randomStore(shapes map[string][]int, seed uint64) *checkpoint.Store {
	rng := rand.New(rand.NewPCG(seed, 1))
	names := make([]string, 0, len(shapes))
	for k := range shapes {
		names = append(names, k)
	}
	sort.Strings(names)
	m := make(map[string]*tensor.Tensor, len(shapes))
	for _, name := range names {
		t := tensor.New(shapes[name]...)
		d := t.Data()
		isScale := strings.Contains(name, "layernorm") && strings.HasSuffix(name, ".weight")
		for i := range d {
			d[i] = float32(rng.NormFloat64() * 0.02)
			if isScale {
				d[i] += 1
			}
		}
		m[name] = t
	}
	return checkpoint.NewStore("random", m)
}

// tinyConfig is a small ViT for tests that need no fixture.
func tinyConfig() Config {
	return Config{
		ModelType: "vit", HiddenSize: 16, NumHiddenLayers: 2, NumAttentionHeads: 2, IntermediateSize: 32,
		HiddenAct: "gelu", LayerNormEps: 1e-12, ImageSize: 32, PatchSize: 8, NumChannels: 3, QKVBias: true,
		ID2Label: map[string]string{"0": "cat", "1": "dog", "2": "bird"},
	}
}

func tinyModel(t testing.TB) *Model {
	t.Helper()
	cfg := tinyConfig()
	m, err := New(cfg, randomStore(weightShapes(cfg, 3), 1).Root())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestWeightShapesMatchCheckpoint keeps the benchmark's random-weight
// helper honest: it must list exactly the fixture checkpoint's tensors.
func TestWeightShapesMatchCheckpoint(t *testing.T) {
	dir := filepath.Join(testdata.Fixture(t, "vit"), "model")
	cfg, err := LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := checkpoint.OpenSafetensors(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	want := weightShapes(cfg, len(cfg.ID2Label))
	for _, name := range st.Names() {
		info, _ := st.Info(name)
		if s, ok := want[name]; !ok || !slices.Equal(s, info.Shape) {
			t.Errorf("%s %v: helper has %v", name, info.Shape, s)
		}
	}
	if len(st.Names()) != len(want) {
		t.Errorf("checkpoint has %d tensors, helper %d", len(st.Names()), len(want))
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, c := range []struct {
		json string
		is   error
		want string
	}{
		{`{"model_type":"vit"}`, nn.ErrConfig, "hidden_size, num_hidden_layers, num_attention_heads, intermediate_size, image_size, patch_size"},
		{`{"model_type":"vit","hidden_size":64,"num_hidden_layers":2,"num_attention_heads":2,"intermediate_size":8}`, nn.ErrConfig, "image_size, patch_size"},
		{`{"model_type":"deit","hidden_size":64,"num_hidden_layers":2,"num_attention_heads":2,"intermediate_size":8,"image_size":32,"patch_size":8}`, nn.ErrUnsupportedArchitecture, "deit"},
		{`{"architectures":["ViTForMaskedImageModeling"],"hidden_size":64,"num_hidden_layers":2,"num_attention_heads":2,"intermediate_size":8,"image_size":32,"patch_size":8}`, nn.ErrUnsupportedArchitecture, "ViTForMaskedImageModeling"},
		{`{"hidden_size":64,"num_hidden_layers":2,"num_attention_heads":3,"intermediate_size":8,"image_size":32,"patch_size":8}`, nn.ErrConfig, "multiple"},
		{`{"hidden_size":64,"num_hidden_layers":2,"num_attention_heads":2,"intermediate_size":8,"image_size":32,"patch_size":0}`, nn.ErrConfig, "patch_size"},
		{`{"hidden_size":64,"num_hidden_layers":2,"num_attention_heads":2,"intermediate_size":8,"image_size":32,"patch_size":8,"hidden_act":"swoosh"}`, nn.ErrConfig, "swoosh"},
		{`{"hidden_size":64,"num_hidden_layers":2,"num_attention_heads":2,"intermediate_size":8,"image_size":32,"patch_size":8,"id2label":{"0":"a","2":"b"}}`, nn.ErrConfig, "id2label"},
		{`[1,2]`, nn.ErrConfig, ""},
	} {
		_, err := ParseConfig([]byte(c.json))
		if !errors.Is(err, c.is) || !strings.Contains(fmt.Sprint(err), c.want) {
			t.Errorf("%s: error %v, want %v naming %q", c.json, err, c.is, c.want)
		}
	}
	cfg, err := ParseConfig([]byte(`{"hidden_size":64,"num_hidden_layers":2,"num_attention_heads":2,"intermediate_size":8,"image_size":32,"patch_size":8,"unknown":[1]}`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HiddenAct != "gelu" || cfg.LayerNormEps != 1e-12 || cfg.NumChannels != 3 || !cfg.QKVBias {
		t.Errorf("defaults not applied: %+v", cfg)
	}
}

func TestNewWeightErrors(t *testing.T) {
	cfg := tinyConfig()
	shapes := weightShapes(cfg, 3)
	store := randomStore(shapes, 2)
	store.Delete("vit.encoder.layer.1.output.dense.bias")
	store.Delete("classifier.weight")
	store.Set("vit.encoder.layer.0.layernorm_before.weight", tensor.New(7))
	store.Set("vit.extra.weight", tensor.New(2))
	_, err := New(cfg, store.Root())
	expected.MissingWeights(t, err, "vit.encoder.layer.1.output.dense.bias", "classifier.weight", "layernorm_before.weight", "vit.extra.weight")
	// A classifier whose size disagrees with id2label.
	shapes = weightShapes(cfg, 5)
	if _, err := New(cfg, randomStore(shapes, 3).Root()); !errors.Is(err, checkpoint.ErrMissingWeights) {
		t.Errorf("5-class classifier for 3 labels: %v", err)
	}
}

// poolerConfig returns the tiny config as a bare ViTModel (no classifier,
// a pooler) and its weights' shapes.
func poolerConfig() (Config, map[string][]int) {
	cfg := tinyConfig()
	cfg.ID2Label = nil
	cfg.Architectures = []string{"ViTModel"}
	shapes := weightShapes(cfg, 0)
	shapes["pooler.dense.weight"] = []int{16, 16}
	shapes["pooler.dense.bias"] = []int{16}
	return cfg, shapes
}

// TestViTModelWithoutHead loads bare ViTModel names (no "vit." prefix, a
// pooler, no classifier).
func TestViTModelWithoutHead(t *testing.T) {
	cfg, shapes := poolerConfig()
	m, err := New(cfg, randomStore(shapes, 4).Root())
	if err != nil {
		t.Fatal(err)
	}
	if m.Classifier != nil || m.Pooler == nil {
		t.Fatalf("classifier %v pooler %v", m.Classifier, m.Pooler)
	}
	ctx := context.Background()
	if _, err := m.Classify(ctx, testdata.Quadrants(), 1); !errors.Is(err, ErrNoClassifier) {
		t.Errorf("Classify: %v", err)
	}
	out, err := m.ForwardImages(ctx, []image.Image{testdata.Quadrants()}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if out.Logits != nil || !slices.Equal(out.Pooled.Shape(), []int{1, 16}) || !slices.Equal(out.LastHiddenState.Shape(), []int{1, 17, 16}) {
		t.Fatalf("output %v %v %v", out.Logits, out.Pooled, out.LastHiddenState)
	}
	for _, v := range out.Pooled.Data() {
		if v <= -1 || v >= 1 {
			t.Fatalf("pooled value %v outside tanh range", v)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir); err == nil {
		t.Error("empty directory: no error")
	}
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"model_type":"vit","hidden_size":16}`), 0o644)
	if _, err := Load(dir); !errors.Is(err, nn.ErrConfig) || !strings.Contains(err.Error(), "patch_size") {
		t.Errorf("incomplete config: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"hidden_size":16,"num_hidden_layers":1,"num_attention_heads":2,"intermediate_size":8,"image_size":16,"patch_size":8}`), 0o644)
	if _, err := Load(dir); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Errorf("no weights: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "model.safetensors"), []byte("garbage"), 0o644)
	if _, err := Load(dir); !errors.Is(err, checkpoint.ErrCorrupt) {
		t.Errorf("corrupt weights: %v", err)
	}
}

// TestForwardBadInput feeds malformed pixel values: every case is an error,
// never a panic.
func TestForwardBadInput(t *testing.T) {
	m := tinyModel(t)
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		pixels *tensor.Tensor
		opt    Options
	}{
		{"nil", nil, Options{}},
		{"rank 3", tensor.New(3, 32, 32), Options{}},
		{"4 channels", tensor.New(1, 4, 32, 32), Options{}},
		{"wrong size", tensor.New(1, 3, 40, 32), Options{}},
		{"smaller than a patch", tensor.New(1, 3, 4, 32), Options{InterpolatePosEncoding: true}},
		{"empty batch", tensor.New(0, 3, 32, 32), Options{}},
	} {
		if _, err := m.Forward(ctx, c.pixels, c.opt); !errors.Is(err, ErrInput) {
			t.Errorf("%s: error %v, want ErrInput", c.name, err)
		}
	}
	if _, err := m.ClassifyBatch(ctx, nil, 1); err == nil {
		t.Error("ClassifyBatch(nil): no error")
	}
	if _, err := m.Classify(ctx, nil, 1); err == nil {
		t.Error("Classify(nil image): no error")
	}
}

// TestInterpolateNonSquare runs a non-square input with interpolated
// position embeddings and checks the embedding shape and that a square
// input at the training size leaves the embeddings untouched.
func TestInterpolateNonSquare(t *testing.T) {
	m := tinyModel(t)
	ctx := context.Background()
	px := tensor.New(2, 3, 40, 24) // 5x3 patches
	for i, d := 0, px.Data(); i < len(d); i++ {
		d[i] = float32(math.Sin(float64(i)))
	}
	out, err := m.Forward(ctx, px, Options{InterpolatePosEncoding: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out.LastHiddenState.Shape(), []int{2, 16, 16}) || !slices.Equal(out.Logits.Shape(), []int{2, 3}) {
		t.Fatalf("shapes %v %v", out.LastHiddenState.Shape(), out.Logits.Shape())
	}
	same, err := interpolatePosEmbed(m.Encoder.Pos, 4, 4, true)
	if err != nil || same != m.Encoder.Pos {
		t.Errorf("training size: embeddings resized (%v)", err)
	}
	// Upsampling a constant grid keeps it constant (the cubic weights sum
	// to one).
	pos := tensor.New(1+16, 2)
	for i := 2; i < pos.Len(); i++ {
		pos.Data()[i] = 0.5
	}
	up, err := interpolatePosEmbed(pos, 7, 5, false)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range up.Data()[2:] {
		if math.Abs(float64(v)-0.5) > 1e-6 {
			t.Fatalf("constant grid interpolated to %v at %d", v, i)
		}
	}
}

func TestContextCancel(t *testing.T) {
	m := tinyModel(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Classify(ctx, testdata.Quadrants(), 1); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

// TestModelConcurrent classifies from many goroutines and compares with a
// sequential run: a loaded model keeps no per-call state.
func TestModelConcurrent(t *testing.T) {
	m := tinyModel(t)
	ctx := context.Background()
	imgs := []image.Image{testdata.Quadrants(), image.NewGray(image.Rect(0, 0, 50, 20)), image.NewCMYK(image.Rect(0, 0, 9, 9))}
	want, err := m.ClassifyBatch(ctx, imgs, 0)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			i := g % len(imgs)
			got, err := m.Classify(ctx, imgs[i], 0)
			if err != nil {
				t.Error(err)
				return
			}
			for j := range got {
				if got[j].Index != want[i][j].Index || math.Abs(float64(got[j].Score-want[i][j].Score)) > 1e-6 {
					t.Errorf("goroutine %d: %v, want %v", g, got, want[i])
					return
				}
			}
		}(g)
	}
	wg.Wait()
}

func TestTopK(t *testing.T) {
	logits := tensor.MustFromData([]float32{1, 3, 3, 0, -1, 2, 0, 5}, 2, 4)
	res := TopK(logits, []string{"a", "b", "c"}, 2)
	if len(res) != 2 || len(res[0]) != 2 {
		t.Fatalf("%v", res)
	}
	// Ties go to the lower index; a class beyond labels has no name.
	if res[0][0].Index != 1 || res[0][1].Index != 2 || res[0][0].Label != "b" || res[1][0].Index != 3 || res[1][0].Label != "" {
		t.Errorf("%v", res)
	}
	all := TopK(logits, nil, 0)
	sum := float32(0)
	for _, p := range all[0] {
		sum += p.Score
	}
	if len(all[0]) != 4 || math.Abs(float64(sum)-1) > 1e-6 {
		t.Errorf("all classes: %v (sum %v)", all[0], sum)
	}
}
