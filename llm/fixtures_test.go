package llm

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

// These tests run the language models of the BLIP-2 and LLaVA fixtures on
// the fixtures' projected image features (the vision parts are the
// families' business): teacher-forced logits and generated ids.

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// fixtureModel builds the language model of a multimodal fixture from its
// config.json (text_config) and weights under "language_model.".
func fixtureModel(t *testing.T, dir string) *Model {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "model", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	store, err := checkpoint.LoadDir(filepath.Join(dir, "model"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	m, err := New(cfg, store.Root(), "language_model.")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func expected(t *testing.T, dir string, names ...string) []*tensor.Tensor {
	t.Helper()
	f, err := checkpoint.OpenSafetensors(filepath.Join(dir, "expected.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	out := make([]*tensor.Tensor, len(names))
	for i, n := range names {
		if out[i], err = f.Tensor(n); err != nil {
			testdata.Missing(t, "%s in %s: %v", n, dir, err)
		}
	}
	return out
}

func maxAbsDiff(t *testing.T, got, want *tensor.Tensor) float64 {
	t.Helper()
	if !slices.Equal(got.Shape(), want.Shape()) {
		t.Fatalf("shape %v, want %v", got.Shape(), want.Shape())
	}
	g, w := got.Contiguous().Data(), want.Contiguous().Data()
	var m float64
	for i := range g {
		d := math.Abs(float64(g[i]) - float64(w[i]))
		if d > m || d != d {
			m = d
		}
	}
	return m
}

// concatRows stacks 2-D tensors [Ti, E] into [ΣTi, E].
func concatRows(t *testing.T, parts ...*tensor.Tensor) *tensor.Tensor {
	t.Helper()
	var keep []*tensor.Tensor
	for _, p := range parts {
		if p != nil && p.Dim(0) > 0 {
			keep = append(keep, p.Contiguous())
		}
	}
	x, err := tensor.Concat(0, keep...)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func imageIndex(t *testing.T, images []string, name string) int {
	t.Helper()
	i := slices.Index(images, name)
	if i < 0 {
		t.Fatalf("image %q is not among the fixture's images %v", name, images)
	}
	return i
}

type blip2Cases struct {
	Images         []string `json:"images"`
	NumQueryTokens int      `json:"num_query_tokens"`
	Unconditional  []struct {
		IDs       []int   `json:"ids"`
		MinMargin float64 `json:"min_margin"`
	} `json:"unconditional"`
	Prompted []struct {
		PromptIDs []int   `json:"prompt_ids"`
		IDs       []int   `json:"ids"`
		MinMargin float64 `json:"min_margin"`
	} `json:"prompted"`
	Beam3 []struct {
		IDs []int `json:"ids"`
	} `json:"unconditional_beam3"`
	Generate map[string]struct {
		MaxNewTokens  int      `json:"max_new_tokens"`
		MinNewTokens  int      `json:"min_new_tokens"`
		NumBeams      int      `json:"num_beams"`
		LengthPenalty *float64 `json:"length_penalty"`
		EarlyStopping *bool    `json:"early_stopping"`
	} `json:"generate"`
	TeacherForced struct {
		Image string `json:"image"`
		IDs   []int  `json:"ids"`
	} `json:"teacher_forced"`
}

func TestLM_blip2_opt(t *testing.T) {
	dir := testdata.Fixture(t, "blip2")
	var cs blip2Cases
	readJSON(t, filepath.Join(dir, "cases.json"), &cs)
	m := fixtureModel(t, dir)
	exp := expected(t, dir, "language_model_inputs", "teacher_forced_logits")
	lmi, wantTF := exp[0], exp[1]
	if lmi.Dim(0) != len(cs.Images) || lmi.Dim(2) != m.EmbedDim() {
		t.Fatalf("language_model_inputs %v for %d images and embedding width %d", lmi.Shape(), len(cs.Images), m.EmbedDim())
	}
	nq := lmi.Dim(1)
	if cs.NumQueryTokens != 0 && cs.NumQueryTokens != nq {
		t.Fatalf("num_query_tokens %d, language_model_inputs has %d rows", cs.NumQueryTokens, nq)
	}
	ctx := context.Background()
	bos := m.Config().BOSTokenID
	// inputs builds transformers' inputs_embeds: the image's query
	// outputs, then the prompt's token embeddings.
	inputs := func(t *testing.T, img int, ids []int) *tensor.Tensor {
		emb, err := m.Embed(ids)
		if err != nil {
			t.Fatal(err)
		}
		return concatRows(t, lmi.Index(img), emb)
	}

	t.Run("teacher_forced", func(t *testing.T) {
		tf := cs.TeacherForced
		if len(tf.IDs) == 0 {
			testdata.Missing(t, "blip2 teacher_forced case")
		}
		st, err := m.NewState(1)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Release()
		lg, err := st.Logits(ctx, inputs(t, imageIndex(t, cs.Images, tf.Image), tf.IDs), nil)
		if err != nil {
			t.Fatal(err)
		}
		got := lg.Slice(1, nq, lg.Dim(1))
		d := maxAbsDiff(t, got, wantTF)
		t.Logf("teacher-forced logits %v: max|Δ| = %.3g", wantTF.Shape(), d)
		if d > 1e-4 {
			t.Errorf("teacher-forced logits max|Δ| = %g > 1e-4", d)
		}
	})

	run := func(t *testing.T, kind string, img int, promptIDs, want []int) {
		t.Helper()
		g, ok := cs.Generate[kind]
		if !ok {
			testdata.Missing(t, "generate settings for %s", kind)
		}
		opt := m.DefaultOptions()
		opt.MaxNewTokens, opt.MinNewTokens, opt.NumBeams = g.MaxNewTokens, g.MinNewTokens, g.NumBeams
		if g.LengthPenalty != nil {
			opt.LengthPenalty = *g.LengthPenalty
		}
		if g.EarlyStopping != nil && *g.EarlyStopping {
			opt.EarlyStopping = 1
		}
		var streamed []int
		if g.NumBeams <= 1 {
			opt.OnToken = func(id int) { streamed = append(streamed, id) }
		}
		// transformers 4.30's BLIP-2 hands the language model inputs_embeds
		// only: generate's input_ids are a placeholder [bos].
		got, err := m.Generate(ctx, Prompt{IDs: []int{bos}, Embeds: inputs(t, img, promptIDs)}, opt)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s image %s: ids\n got %v\nwant %v", kind, cs.Images[img], got, want)
		}
		if opt.OnToken != nil && !slices.Equal(streamed, got[1:]) {
			t.Errorf("%s image %s: streamed %v, generated %v", kind, cs.Images[img], streamed, got[1:])
		}
	}
	t.Run("unconditional", func(t *testing.T) {
		if len(cs.Unconditional) != len(cs.Images) {
			t.Fatalf("%d unconditional cases for %d images", len(cs.Unconditional), len(cs.Images))
		}
		for i, c := range cs.Unconditional {
			run(t, "unconditional", i, []int{bos}, c.IDs)
		}
	})
	t.Run("prompted", func(t *testing.T) {
		if len(cs.Prompted) != len(cs.Images) {
			t.Fatalf("%d prompted cases for %d images", len(cs.Prompted), len(cs.Images))
		}
		for i, c := range cs.Prompted {
			run(t, "prompted", i, c.PromptIDs, c.IDs)
		}
	})
	t.Run("unconditional_beam3", func(t *testing.T) {
		if len(cs.Beam3) != len(cs.Images) {
			t.Fatalf("%d beam cases for %d images", len(cs.Beam3), len(cs.Images))
		}
		for i, c := range cs.Beam3 {
			run(t, "unconditional_beam3", i, []int{bos}, c.IDs)
		}
	})
	t.Run("batch", func(t *testing.T) {
		// The prompted cases in one left-padded batch (prompts of
		// different lengths) give what each gives alone.
		g := cs.Generate["prompted"]
		opt := m.DefaultOptions()
		opt.MaxNewTokens, opt.MinNewTokens = g.MaxNewTokens, g.MinNewTokens
		var ps []Prompt
		var want [][]int
		for i, c := range cs.Prompted {
			ps = append(ps, Prompt{IDs: []int{bos}, Embeds: inputs(t, i, c.PromptIDs)})
			want = append(want, c.IDs)
		}
		got, err := m.GenerateBatch(ctx, ps, opt)
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if !slices.Equal(got[i], want[i]) {
				t.Errorf("batch row %d: ids\n got %v\nwant %v", i, got[i], want[i])
			}
		}
	})
}

type llavaCases struct {
	Images          []string `json:"images"`
	ImageTokenIndex int      `json:"image_token_index"`
	Generate        struct {
		MaxNewTokens int `json:"max_new_tokens"`
		MinNewTokens int `json:"min_new_tokens"`
		NumBeams     int `json:"num_beams"`
	} `json:"generate"`
	Cases []struct {
		Image     string  `json:"image"`
		InputIDs  []int   `json:"input_ids"`
		IDs       []int   `json:"ids"`
		MinMargin float64 `json:"min_margin"`
	} `json:"cases"`
	TeacherForced struct {
		Image              string `json:"image"`
		IDs                []int  `json:"ids"`
		ImageTokenPosition int    `json:"image_token_position"`
		NumPatches         int    `json:"num_patches"`
	} `json:"teacher_forced"`
}

func TestLM_llava_llama(t *testing.T) {
	dir := testdata.Fixture(t, "llava")
	var cs llavaCases
	readJSON(t, filepath.Join(dir, "cases.json"), &cs)
	m := fixtureModel(t, dir)
	exp := expected(t, dir, "image_features", "teacher_forced_logits")
	feats, wantTF := exp[0], exp[1]
	if feats.Dim(0) != len(cs.Images) || feats.Dim(2) != m.EmbedDim() {
		t.Fatalf("image_features %v for %d images and embedding width %d", feats.Shape(), len(cs.Images), m.EmbedDim())
	}
	np := feats.Dim(1)
	ctx := context.Background()
	// merged is transformers 4.40's _merge_input_ids_with_image_features
	// for one image: the <image> token's embedding replaced by the image's
	// feature rows.
	merged := func(t *testing.T, img int, ids []int) (*tensor.Tensor, int) {
		p := slices.Index(ids, cs.ImageTokenIndex)
		if p < 0 || slices.Index(ids[p+1:], cs.ImageTokenIndex) >= 0 {
			t.Fatalf("want exactly one <image> (%d) in %v", cs.ImageTokenIndex, ids)
		}
		var before, after *tensor.Tensor
		var err error
		if p > 0 {
			if before, err = m.Embed(ids[:p]); err != nil {
				t.Fatal(err)
			}
		}
		if p+1 < len(ids) {
			if after, err = m.Embed(ids[p+1:]); err != nil {
				t.Fatal(err)
			}
		}
		return concatRows(t, before, feats.Index(img), after), p
	}

	t.Run("teacher_forced", func(t *testing.T) {
		tf := cs.TeacherForced
		if len(tf.IDs) == 0 {
			testdata.Missing(t, "llava teacher_forced case")
		}
		if tf.NumPatches != 0 && tf.NumPatches != np {
			t.Fatalf("num_patches %d, image_features has %d rows", tf.NumPatches, np)
		}
		x, p := merged(t, imageIndex(t, cs.Images, tf.Image), tf.IDs)
		if p != tf.ImageTokenPosition {
			t.Fatalf("<image> at %d, cases.json says %d", p, tf.ImageTokenPosition)
		}
		st, err := m.NewState(1)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Release()
		lg, err := st.Logits(ctx, x, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Rows after the image: merged index p + np + j for ids[p+1+j].
		got := lg.Slice(1, p+np, lg.Dim(1))
		d := maxAbsDiff(t, got, wantTF)
		t.Logf("teacher-forced logits %v: max|Δ| = %.3g", wantTF.Shape(), d)
		if d > 1e-4 {
			t.Errorf("teacher-forced logits max|Δ| = %g > 1e-4", d)
		}
	})

	t.Run("greedy", func(t *testing.T) {
		if len(cs.Cases) == 0 {
			testdata.Missing(t, "llava generation cases")
		}
		g := cs.Generate
		for _, c := range cs.Cases {
			x, _ := merged(t, imageIndex(t, cs.Images, c.Image), c.InputIDs)
			opt := m.DefaultOptions()
			opt.MaxNewTokens, opt.MinNewTokens, opt.NumBeams = g.MaxNewTokens, g.MinNewTokens, g.NumBeams
			var streamed []int
			opt.OnToken = func(id int) { streamed = append(streamed, id) }
			got, err := m.Generate(ctx, Prompt{IDs: c.InputIDs, Embeds: x}, opt)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, c.IDs) {
				t.Errorf("%s: ids\n got %v\nwant %v (min_margin %g)", c.Image, got, c.IDs, c.MinMargin)
			}
			if !slices.Equal(streamed, got[len(c.InputIDs):]) {
				t.Errorf("%s: streamed %v, generated %v", c.Image, streamed, got[len(c.InputIDs):])
			}
		}
	})
}
