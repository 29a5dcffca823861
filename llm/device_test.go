package llm

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/generate"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// The TestDevice tests run the models on tensor.NewCheckingDevice, whose
// storage the host cannot read (Data panics): the forward passes and the
// searches must give results bit-identical to the host model's, with only
// inputs uploaded and logits downloaded.

// sameBits fails unless the device tensor got holds exactly the values of
// the host tensor want.
func sameBits(t *testing.T, what string, want, got *tensor.Tensor) {
	t.Helper()
	if got.OnHost() {
		t.Fatalf("%s: result on the host, want on the device", what)
	}
	if !want.OnHost() {
		t.Fatalf("%s: host result on %s", what, want.Device())
	}
	h, err := tensor.ToHost(got)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(h.Shape(), want.Shape()) {
		t.Fatalf("%s: shape %v, want %v", what, h.Shape(), want.Shape())
	}
	wd, gd := want.Contiguous().Data(), h.Data()
	for i := range wd {
		if math.Float32bits(wd[i]) != math.Float32bits(gd[i]) {
			t.Fatalf("%s: element %d = %v on the device, %v on the host", what, i, gd[i], wd[i])
		}
	}
}

// deviceModel builds the model of cfg on d from the same random weights as
// newTestModel, resident after Pack.
func deviceModel(t *testing.T, cfg Config, seed uint64, prefix string, d *tensor.Device) *Model {
	t.Helper()
	store := randomWeights(cfg, seed, prefix).store()
	store.Device = d
	t.Cleanup(func() { store.Close() })
	m, err := New(cfg, store.Root(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Pack(); err != nil {
		t.Fatal(err)
	}
	if m.dev != d {
		t.Fatalf("model on %v, want %v", m.dev, d)
	}
	return m
}

// transfers returns what moved between the host and d during f.
func transfers(d *tensor.Device, f func()) tensor.Transfers {
	a := d.Transfers()
	f()
	b := d.Transfers()
	return tensor.Transfers{
		Uploads: b.Uploads - a.Uploads, Downloads: b.Downloads - a.Downloads,
		UploadBytes: b.UploadBytes - a.UploadBytes, DownloadBytes: b.DownloadBytes - a.DownloadBytes,
	}
}

// TestDevice_configs runs every architectural option on the checking
// device: logits of a left-padded batch, decoding steps and reordering,
// greedy and beam search, seeded sampling and streaming.
func TestDevice_configs(t *testing.T) {
	ctx := context.Background()
	for name, cfg := range testConfigs() {
		t.Run(name, func(t *testing.T) {
			d := tensor.NewCheckingDevice()
			m, _ := newTestModel(t, cfg, 8, "language_model.")
			dm := deviceModel(t, cfg, 8, "language_model.", d)
			r := rand.New(rand.NewPCG(6, 7))
			v := cfg.VocabSize

			// A left-padded batch, all positions.
			rows := [][]int{randIDs(r, 7, v), randIDs(r, 7, v), randIDs(r, 7, v)}
			pad := []int{0, 4, 2}
			x, err := m.EmbedBatch(rows)
			if err != nil {
				t.Fatal(err)
			}
			dx, err := dm.EmbedBatch(rows)
			if err != nil {
				t.Fatal(err)
			}
			sameBits(t, "EmbedBatch", x, dx)
			st, _ := m.NewState(3)
			defer st.Release()
			dst, _ := dm.NewState(3)
			defer dst.Release()
			lg, err := st.Logits(ctx, x, pad)
			if err != nil {
				t.Fatal(err)
			}
			var dlg *tensor.Tensor
			tr := transfers(d, func() { dlg, err = dst.Logits(ctx, dx, pad) })
			if err != nil {
				t.Fatal(err)
			}
			sameBits(t, "logits", lg, dlg)
			if tr.Downloads != 0 || tr.Uploads != 1 {
				t.Errorf("logits of a padded batch: %+v, want the mask uploaded and nothing downloaded", tr)
			}
			// Steps with the padding, a reorder, and more steps.
			for i, ids := range [][]int{{5, 6, 7}, {1, 2, 3}, {4, 4}} {
				if i == 2 {
					if err := st.Reorder([]int{2, 0}); err != nil {
						t.Fatal(err)
					}
					if err := dst.Reorder([]int{2, 0}); err != nil {
						t.Fatal(err)
					}
				}
				lg, err := st.Step(ctx, ids)
				if err != nil {
					t.Fatal(err)
				}
				var dlg *tensor.Tensor
				tr := transfers(d, func() { dlg, err = dst.Step(ctx, ids) })
				if err != nil {
					t.Fatal(err)
				}
				sameBits(t, "step logits", lg, dlg)
				if tr.Downloads != 0 || tr.Uploads > 1 {
					t.Errorf("step %d: %+v, want at most the mask uploaded", i, tr)
				}
			}

			// Generation: ids prompts, an embeddings prompt on the host (uploaded)
			// and one on the device.
			prompts := []Prompt{{IDs: randIDs(r, 5, v)}, {IDs: randIDs(r, 2, v)}}
			hostEmb, _ := m.Embed(randIDs(r, 4, v))
			devEmb, err := d.Upload(hostEmb)
			if err != nil {
				t.Fatal(err)
			}
			hp := append(slices.Clone(prompts), Prompt{IDs: []int{3}, Embeds: hostEmb}, Prompt{IDs: []int{3, 4}, Embeds: hostEmb})
			dp := append(slices.Clone(prompts), Prompt{IDs: []int{3}, Embeds: hostEmb}, Prompt{IDs: []int{3, 4}, Embeds: devEmb})
			for _, mode := range []string{"greedy", "beam", "sample"} {
				opt := m.DefaultOptions()
				opt.MaxNewTokens, opt.MinNewTokens, opt.RepetitionPenalty = 6, 2, 1.3
				switch mode {
				case "beam":
					opt.NumBeams = 3
				case "sample":
					opt.Sample = &generate.Sampling{Temperature: 0.8, TopK: 20, TopP: 0.95, Seed: 77}
				}
				for i := range hp {
					var hs, ds []int
					o := opt
					o.OnToken = func(id int) { hs = append(hs, id) }
					want, err := m.Generate(ctx, hp[i], o)
					if err != nil {
						t.Fatal(err)
					}
					o.OnToken = func(id int) { ds = append(ds, id) }
					var got []int
					tr := transfers(d, func() { got, err = dm.Generate(ctx, dp[i], o) })
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(got, want) || !slices.Equal(ds, hs) {
						t.Errorf("%s prompt %d: device %v (streamed %v), host %v (streamed %v)", mode, i, got, ds, want, hs)
					}
					// One download of the logits per step; the only upload
					// is a host prompt's embeddings.
					up := int64(0)
					if dp[i].Embeds != nil && dp[i].Embeds.OnHost() {
						up = 1
					}
					if tr.Uploads != up || tr.Downloads < 1 || tr.Downloads > int64(opt.MaxNewTokens) {
						t.Errorf("%s prompt %d: %+v for %d new tokens, want %d uploads and a download per step", mode, i, tr, len(got)-len(dp[i].IDs), up)
					}
				}
				if mode == "sample" {
					continue
				}
				want, err := m.GenerateBatch(ctx, hp, opt)
				if err != nil {
					t.Fatal(err)
				}
				got, err := dm.GenerateBatch(ctx, dp, opt)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(slices.Concat(got...), slices.Concat(want...)) {
					t.Errorf("%s batch: device %v, host %v", mode, got, want)
				}
			}
		})
	}
}

// TestDevice_load loads checkpoints of every weight type with
// nn.WithDevice: 16-bit weights (and the embedding) kept 16-bit on the
// device, int8 quantized ones; the logits equal the host model's.
func TestDevice_load(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"opt_proj_untied", "llama_gqa", "llama_bias_tied"} {
		cfg := testConfigs()[name]
		for _, dt := range []string{"F32", "F16", "BF16", "F32+Q8", "F16+Q8"} {
			t.Run(name+"/"+dt, func(t *testing.T) {
				dir := t.TempDir()
				writeConfig(t, dir, cfg)
				fileType, opts := dt, []nn.LoadOption(nil)
				if fileType[3:] == "+Q8" {
					fileType, opts = dt[:3], []nn.LoadOption{nn.WithWeightType(tensor.WeightQ8)}
				}
				randomWeights(cfg, 21, "").write(t, filepath.Join(dir, "model.safetensors"), fileType)
				m, err := Load(dir, opts...)
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				d := tensor.NewCheckingDevice()
				dm, err := Load(dir, append(opts, nn.WithDevice(d))...)
				if err != nil {
					t.Fatal(err)
				}
				defer dm.Close()
				ids := randIDs(rand.New(rand.NewPCG(2, 2)), 7, cfg.VocabSize)
				st, _ := m.NewState(1)
				defer st.Release()
				lg, err := st.PrefillIDs(ctx, [][]int{ids}, nil)
				if err != nil {
					t.Fatal(err)
				}
				dst, _ := dm.NewState(1)
				defer dst.Release()
				var dlg *tensor.Tensor
				tr := transfers(d, func() { dlg, err = dst.PrefillIDs(ctx, [][]int{ids}, nil) })
				if err != nil {
					t.Fatal(err)
				}
				sameBits(t, "logits", lg, dlg)
				if tr != (tensor.Transfers{}) {
					t.Errorf("prefill of ids: %+v, want no transfers", tr)
				}
				for _, id := range []int{4, 9} {
					lg, err := st.Step(ctx, []int{id})
					if err != nil {
						t.Fatal(err)
					}
					dlg, err := dst.Step(ctx, []int{id})
					if err != nil {
						t.Fatal(err)
					}
					sameBits(t, "step logits", lg, dlg)
				}
			})
		}
	}
}

// fixtureDeviceModel is fixtureModel on device d.
func fixtureDeviceModel(t *testing.T, dir string, d *tensor.Device) *Model {
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
	store.Device = d
	t.Cleanup(func() { store.Close() })
	m, err := New(cfg, store.Root(), "language_model.")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Pack(); err != nil {
		t.Fatal(err)
	}
	return m
}

// devicePair runs a generation on the host model and the device model and
// requires the same ids and streamed tokens, with only the logits of each
// step downloaded (and no upload: the inputs are on the device).
func devicePair(t *testing.T, what string, m, dm *Model, d *tensor.Device, hp, dp []Prompt, opt GenerateOptions) {
	t.Helper()
	ctx := context.Background()
	var hs, ds []int
	if len(hp) == 1 && opt.NumBeams <= 1 {
		opt.OnToken = func(id int) { hs = append(hs, id) }
	}
	want, err := m.GenerateBatch(ctx, hp, opt)
	if err != nil {
		t.Fatal(err)
	}
	if opt.OnToken != nil {
		opt.OnToken = func(id int) { ds = append(ds, id) }
	}
	var got [][]int
	tr := transfers(d, func() { got, err = dm.GenerateBatch(ctx, dp, opt) })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(slices.Concat(got...), slices.Concat(want...)) || !slices.Equal(ds, hs) {
		t.Errorf("%s: device %v (streamed %v), host %v (streamed %v)", what, got, ds, want, hs)
	}
	maxUp := int64(0)
	for _, p := range dp {
		if p.Embeds != nil && p.Embeds.OnHost() {
			maxUp++
		}
	}
	if len(hp) > 1 {
		maxUp += int64(opt.MaxNewTokens) // the padding mask, once a step
	}
	if tr.Uploads > maxUp || tr.Downloads < 1 || tr.Downloads > int64(opt.MaxNewTokens) {
		t.Errorf("%s: %+v, want at most %d uploads and one download per step (%d new tokens at most)", what, tr, maxUp, opt.MaxNewTokens)
	}
}

// TestDevice_blip2_opt runs the OPT language model of the blip2 fixture on
// the checking device: teacher-forced logits and every generation of
// TestLM_blip2_opt identical to the host model's.
func TestDevice_blip2_opt(t *testing.T) {
	dir := testdata.Fixture(t, "blip2")
	var cs blip2Cases
	readJSON(t, filepath.Join(dir, "cases.json"), &cs)
	d := tensor.NewCheckingDevice()
	m, dm := fixtureModel(t, dir), fixtureDeviceModel(t, dir, d)
	lmi := expected(t, dir, "language_model_inputs")[0]
	ctx := context.Background()
	bos := m.Config().BOSTokenID
	// inputs returns the image's query outputs and the prompt's token
	// embeddings on the host and, spliced on the device, on d.
	inputs := func(t *testing.T, img int, ids []int) (*tensor.Tensor, *tensor.Tensor) {
		emb, err := m.Embed(ids)
		if err != nil {
			t.Fatal(err)
		}
		demb, err := dm.Embed(ids)
		if err != nil {
			t.Fatal(err)
		}
		q, err := d.Upload(lmi.Index(img).Contiguous())
		if err != nil {
			t.Fatal(err)
		}
		dx, err := tensor.Concat(0, q, demb)
		if err != nil {
			t.Fatal(err)
		}
		return concatRows(t, lmi.Index(img), emb), dx
	}

	t.Run("teacher_forced", func(t *testing.T) {
		tf := cs.TeacherForced
		if len(tf.IDs) == 0 {
			testdata.Missing(t, "blip2 teacher_forced case")
		}
		x, dx := inputs(t, imageIndex(t, cs.Images, tf.Image), tf.IDs)
		st, _ := m.NewState(1)
		defer st.Release()
		lg, err := st.Logits(ctx, x, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range []*tensor.Tensor{dx, x} { // device inputs, host inputs
			dst, _ := dm.NewState(1)
			dlg, err := dst.Logits(ctx, in, nil)
			if err != nil {
				t.Fatal(err)
			}
			sameBits(t, "teacher-forced logits", lg, dlg)
			dst.Release()
		}
	})

	for _, kind := range []string{"unconditional", "prompted", "unconditional_beam3"} {
		t.Run(kind, func(t *testing.T) {
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
			var hp, dp []Prompt
			for i := range cs.Images {
				ids := []int{bos}
				if kind == "prompted" {
					if len(cs.Prompted) != len(cs.Images) {
						t.Fatalf("%d prompted cases for %d images", len(cs.Prompted), len(cs.Images))
					}
					ids = cs.Prompted[i].PromptIDs
				}
				x, dx := inputs(t, i, ids)
				hp = append(hp, Prompt{IDs: []int{bos}, Embeds: x})
				dp = append(dp, Prompt{IDs: []int{bos}, Embeds: dx})
				devicePair(t, cs.Images[i], m, dm, d, hp[i:i+1], dp[i:i+1], opt)
			}
			if kind == "prompted" {
				// Prompts of different lengths: a left-padded batch.
				devicePair(t, "batch", m, dm, d, hp, dp, opt)
			}
		})
	}
	t.Run("sample", func(t *testing.T) {
		x, dx := inputs(t, 0, []int{bos})
		opt := m.DefaultOptions()
		opt.MaxNewTokens = 12
		opt.Sample = &generate.Sampling{Temperature: 0.9, TopK: 30, TopP: 0.9, Seed: 5}
		devicePair(t, "sampling", m, dm, d, []Prompt{{IDs: []int{bos}, Embeds: x}}, []Prompt{{IDs: []int{bos}, Embeds: dx}}, opt)
	})
}

// TestDevice_llava_llama runs the Llama language model of the llava
// fixture on the checking device: teacher-forced logits and the greedy
// generations of TestLM_llava_llama identical to the host model's, beam
// search and seeded sampling too.
func TestDevice_llava_llama(t *testing.T) {
	dir := testdata.Fixture(t, "llava")
	var cs llavaCases
	readJSON(t, filepath.Join(dir, "cases.json"), &cs)
	d := tensor.NewCheckingDevice()
	m, dm := fixtureModel(t, dir), fixtureDeviceModel(t, dir, d)
	feats := expected(t, dir, "image_features")[0]
	ctx := context.Background()
	// merged returns the prompt's embeddings with the image's features in
	// place of its <image> token, built on the host and on d.
	merged := func(t *testing.T, img int, ids []int) (*tensor.Tensor, *tensor.Tensor) {
		p := slices.Index(ids, cs.ImageTokenIndex)
		if p < 0 {
			t.Fatalf("no <image> (%d) in %v", cs.ImageTokenIndex, ids)
		}
		f, err := d.Upload(feats.Index(img).Contiguous())
		if err != nil {
			t.Fatal(err)
		}
		var hs, ds []*tensor.Tensor
		for _, part := range [][]int{ids[:p], nil, ids[p+1:]} {
			if part == nil {
				hs, ds = append(hs, feats.Index(img)), append(ds, f)
				continue
			}
			if len(part) == 0 {
				continue
			}
			e, err := m.Embed(part)
			if err != nil {
				t.Fatal(err)
			}
			de, err := dm.Embed(part)
			if err != nil {
				t.Fatal(err)
			}
			hs, ds = append(hs, e), append(ds, de)
		}
		dx, err := tensor.Concat(0, ds...)
		if err != nil {
			t.Fatal(err)
		}
		return concatRows(t, hs...), dx
	}

	t.Run("teacher_forced", func(t *testing.T) {
		tf := cs.TeacherForced
		if len(tf.IDs) == 0 {
			testdata.Missing(t, "llava teacher_forced case")
		}
		x, dx := merged(t, imageIndex(t, cs.Images, tf.Image), tf.IDs)
		st, _ := m.NewState(1)
		defer st.Release()
		lg, err := st.Logits(ctx, x, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range []*tensor.Tensor{dx, x} {
			dst, _ := dm.NewState(1)
			dlg, err := dst.Logits(ctx, in, nil)
			if err != nil {
				t.Fatal(err)
			}
			sameBits(t, "teacher-forced logits", lg, dlg)
			dst.Release()
		}
	})

	t.Run("generate", func(t *testing.T) {
		if len(cs.Cases) == 0 {
			testdata.Missing(t, "llava generation cases")
		}
		g := cs.Generate
		for _, c := range cs.Cases {
			x, dx := merged(t, imageIndex(t, cs.Images, c.Image), c.InputIDs)
			hp, dp := []Prompt{{IDs: c.InputIDs, Embeds: x}}, []Prompt{{IDs: c.InputIDs, Embeds: dx}}
			opt := m.DefaultOptions()
			opt.MaxNewTokens, opt.MinNewTokens, opt.NumBeams = g.MaxNewTokens, g.MinNewTokens, g.NumBeams
			devicePair(t, c.Image+" greedy", m, dm, d, hp, dp, opt)
			opt.NumBeams = 3
			devicePair(t, c.Image+" beam", m, dm, d, hp, dp, opt)
			opt.NumBeams = 1
			opt.Sample = &generate.Sampling{Temperature: 0.7, TopK: 40, TopP: 0.9, Seed: 11}
			devicePair(t, c.Image+" sampling", m, dm, d, hp, dp, opt)
		}
	})
}
