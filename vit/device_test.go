package vit

import (
	"context"
	"image"
	"math/rand"
	"testing"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

// TestDevice_vit runs the forward passes of TestParity_vit with the model
// on the checking device (whose tensors the host cannot read): every
// result equals the host model's bit for bit (also with int8 weights), and
// each call moves only its pixel values up and what it returns down.
func TestDevice_vit(t *testing.T) {
	dir := testdata.Fixture(t, "vit")
	cases := readVitCases(t, dir)
	ctx := context.Background()
	host := testdata.LoadModel(t, dir, Load)
	dev := tensor.NewCheckingDevice()
	m := testdata.LoadModel(t, dir, Load, WithDevice(dev))
	if m.Device() != dev || host.Device() != nil || m.Encoder.Device() != dev || m.Encoder.CLS.Device() != dev || m.Encoder.Pos.Device() != dev {
		t.Fatalf("encoder on %s (class token %s, positions %s), want %s", m.Encoder.Device(), m.Encoder.CLS.Device(), m.Encoder.Pos.Device(), dev)
	}

	imgs := loadImageFiles(t, cases.Images)
	pixels, err := host.Processor().PreprocessBatch(imgs)
	if err != nil {
		t.Fatal(err)
	}
	pixBytes := int64(4 * pixels.Len())

	// The first call after Load: weights already resident, only the
	// pixels go up.
	want, got, tr := expected.OnBoth(t, dev, "Forward", host, m, func(m *Model) (*Output, error) {
		return m.Forward(ctx, pixels, Options{OutputHiddenStates: true})
	})
	expected.ExactTransfers(t, "Forward", tr, tensor.Transfers{Uploads: 1, UploadBytes: pixBytes})
	expected.SameBits(t, "last_hidden_state", want.LastHiddenState, got.LastHiddenState)
	expected.SameBits(t, "pooled", want.Pooled, got.Pooled)
	expected.SameBits(t, "logits", want.Logits, got.Logits)
	if len(got.HiddenStates) != len(want.HiddenStates) {
		t.Fatalf("%d hidden states, want %d", len(got.HiddenStates), len(want.HiddenStates))
	}
	for i := range want.HiddenStates {
		expected.SameBits(t, "hidden_states", want.HiddenStates[i], got.HiddenStates[i])
	}
	got.Release()

	// Pixels already on the device go in as they are.
	dpix := dev.MustUpload(pixels)
	var logits *tensor.Tensor
	tr = expected.OnDevice(t, dev, "Logits (device pixels)", func() (err error) {
		logits, err = m.Logits(ctx, dpix)
		return err
	})
	expected.ExactTransfers(t, "Logits (device pixels)", tr, tensor.Transfers{})
	expected.SameBits(t, "logits (device pixels)", want.Logits, logits)
	tensor.Release(logits)
	tensor.Release(dpix)

	// Classification: the logits come down, nothing else.
	wantTop, gotTop, tr := expected.OnBoth(t, dev, "ClassifyBatch", host, m, func(m *Model) ([][]Prediction, error) { return m.ClassifyBatch(ctx, imgs, 3) })
	expected.ExactTransfers(t, "ClassifyBatch", tr, tensor.Transfers{Uploads: 1, UploadBytes: pixBytes, Downloads: 1, DownloadBytes: int64(4 * want.Logits.Len())})
	for i := range imgs {
		one, err := m.Classify(ctx, imgs[i], 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range [][]Prediction{gotTop[i], one} {
			if len(g) != len(wantTop[i]) {
				t.Fatalf("image %d: %v, want %v", i, g, wantTop[i])
			}
			for j := range g {
				if g[j] != wantTop[i][j] {
					t.Errorf("image %d: %v, want %v", i, g, wantTop[i])
					break
				}
			}
		}
	}

	// The same weights from pytorch_model.bin.
	expected.SameBits(t, "logits (pytorch_model.bin)", want.Logits, binLogits(t, dir, pixels, WithDevice(dev)))

	// int8 weights: the same quantized products on both.
	hq := testdata.LoadModel(t, dir, Load, WithWeightType(tensor.WeightQ8))
	mq := testdata.LoadModel(t, dir, Load, WithWeightType(tensor.WeightQ8), WithDevice(dev))
	wantQ, gotQ, tr := expected.OnBoth(t, dev, "Logits (int8)", hq, mq, func(m *Model) (*tensor.Tensor, error) { return m.Logits(ctx, pixels) })
	expected.ExactTransfers(t, "Logits (int8)", tr, tensor.Transfers{Uploads: 1, UploadBytes: pixBytes})
	expected.SameBits(t, "logits (int8)", wantQ, gotQ)

	// interpolate_pos_encoding at another resolution: the position
	// embeddings are resized on the device.
	ip := cases.Interpolated
	if ip.Size == 0 {
		return
	}
	ipix := interpolatedPixels(t, host, cases)
	if _, err := m.Forward(ctx, ipix, Options{}); err == nil {
		t.Errorf("%dpx input without InterpolatePosEncoding: no error", ip.Size)
	}
	iwant, igot, tr := expected.OnBoth(t, dev, "Forward (interpolated)", host, m, func(m *Model) (*Output, error) {
		return m.Forward(ctx, ipix, Options{InterpolatePosEncoding: true})
	})
	expected.ExactTransfers(t, "Forward (interpolated)", tr, tensor.Transfers{Uploads: 1, UploadBytes: int64(4 * ipix.Len())})
	expected.SameBits(t, "logits_interpolated", iwant.Logits, igot.Logits)
	expected.SameBits(t, "last_hidden_state (interpolated)", iwant.LastHiddenState, igot.LastHiddenState)
}

// TestDeviceTowers builds the encoders of the other vision families (a
// ViTModel with its pooler, CLIP's tower, BLIP's, BLIP-2's with split q/v
// biases) from random weights on the host and on the checking device:
// identical hidden states, pooled outputs and interpolated embeddings, with
// only the pixels going up.
func TestDeviceTowers(t *testing.T) {
	ctx := context.Background()
	cfg := EncoderConfig{HiddenSize: 8, NumLayers: 2, NumHeads: 2, IntermediateSize: 16, HiddenAct: "quick_gelu",
		LayerNormEps: 1e-5, ImageSize: 8, PatchSize: 4, NumChannels: 3}
	r := rand.New(rand.NewSource(7))
	px := tensor.New(2, 3, 8, 8)
	for i := range px.Data() {
		px.Data()[i] = float32(r.NormFloat64())
	}
	big := tensor.New(2, 3, 12, 8) // a 3×2 grid: interpolated positions
	for i := range big.Data() {
		big.Data()[i] = float32(r.NormFloat64())
	}
	clip := clipTower(r, cfg)
	blip := blipTower(r, cfg)
	const a = "vision_model.encoder.layers.0.self_attn."
	blip2 := map[string]*tensor.Tensor{}
	for k, v := range blip {
		blip2[k] = v
	}
	blip2[a+"q_bias"] = randTensor(r, cfg.HiddenSize)
	blip2[a+"v_bias"] = randTensor(r, cfg.HiddenSize)
	blip[a+"qkv.bias"] = randTensor(r, 3*cfg.HiddenSize)
	for _, tc := range []struct {
		name    string
		weights map[string]*tensor.Tensor
		layers  int
		build   func(checkpoint.Weights, EncoderConfig) (*Encoder, error)
		// lazyQKV: the fused q/k/v projection of BLIP's towers is packed
		// (and uploaded) at the first forward pass, not by Prepare: its
		// Q, K and V are Rows of one qkv layer, which nn.Attention.FuseQKV
		// cannot register with the store (nn.Linear.Rows does not keep
		// it). Until nn does, the transfers are checked from the second
		// call on.
		lazyQKV bool
	}{
		{"clip", clip, 2, NewCLIPEncoder, false},
		{"blip", blip, 1, NewBLIPEncoder, true},
		{"blip2", blip2, 1, func(w checkpoint.Weights, c EncoderConfig) (*Encoder, error) {
			c.QKVBias = true
			return NewBLIP2Encoder(w, c)
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := cfg
			cfg.NumLayers = tc.layers
			build := func(dev *tensor.Device) (*Encoder, *checkpoint.Store) {
				s := checkpoint.NewStore("test", tc.weights)
				s.Device = dev
				e, err := tc.build(s.Root().Sub("vision_model"), cfg)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Err(true); err != nil {
					t.Fatal(err)
				}
				if err := s.Prepare(); err != nil {
					t.Fatal(err)
				}
				return e, s
			}
			host, hs := build(nil)
			defer hs.Close()
			dev := tensor.NewCheckingDevice()
			e, ds := build(dev)
			defer ds.Close()
			if tc.lazyQKV {
				tr := expected.OnDevice(t, dev, "first call", func() error {
					_, err := e.Forward(ctx, px, false)
					return err
				})
				t.Logf("first call (packs the fused qkv weight): %+v", tr)
			}
			for _, in := range []struct {
				what        string
				px          *tensor.Tensor
				interpolate bool
			}{{"training size", px, false}, {"interpolated", big, true}} {
				wantLast, wantHidden, err := host.ForwardHidden(ctx, in.px, in.interpolate)
				if err != nil {
					t.Fatal(err)
				}
				var last *tensor.Tensor
				var hidden []*tensor.Tensor
				tr := expected.OnDevice(t, dev, in.what, func() (err error) {
					last, hidden, err = e.ForwardHidden(ctx, in.px, in.interpolate)
					return err
				})
				expected.ExactTransfers(t, in.what, tr, tensor.Transfers{Uploads: 1, UploadBytes: int64(4 * in.px.Len())})
				expected.SameBits(t, in.what+": last hidden state", wantLast, last)
				for i := range wantHidden {
					expected.SameBits(t, in.what+": hidden state", wantHidden[i], hidden[i])
				}
				wantPooled, err := host.Pooled(wantLast)
				if err != nil {
					t.Fatal(err)
				}
				pooled, err := e.Pooled(last)
				if err != nil {
					t.Fatal(err)
				}
				expected.SameBits(t, in.what+": pooled", wantPooled, pooled)
				emb, err := host.Embeddings(in.px, in.interpolate)
				if err != nil {
					t.Fatal(err)
				}
				want, got, _ := expected.OnBoth(t, dev, in.what+": from embeddings", host, e, func(e *Encoder) (*tensor.Tensor, error) { return e.ForwardEmbeddings(ctx, emb) })
				expected.SameBits(t, in.what+": from embeddings", want, got)
			}
		})
	}

	t.Run("ViTModel pooler", func(t *testing.T) {
		c, shapes := poolerConfig()
		host, err := New(c, randomStore(shapes, 4).Root())
		if err != nil {
			t.Fatal(err)
		}
		dev := tensor.NewCheckingDevice()
		ds := randomStore(shapes, 4)
		ds.Device = dev
		defer ds.Close()
		m, err := New(c, ds.Root())
		if err != nil {
			t.Fatal(err)
		}
		img := []image.Image{testdata.Quadrants()}
		want, err := host.ForwardImages(ctx, img, Options{})
		if err != nil {
			t.Fatal(err)
		}
		var got *Output
		tr := expected.OnDevice(t, dev, "ForwardImages", func() (err error) {
			got, err = m.ForwardImages(ctx, img, Options{})
			return err
		})
		expected.ExactTransfers(t, "ForwardImages", tr, tensor.Transfers{Uploads: 1, UploadBytes: 4 * 3 * 32 * 32})
		expected.SameBits(t, "pooler output", want.Pooled, got.Pooled)
		expected.SameBits(t, "last hidden state", want.LastHiddenState, got.LastHiddenState)
	})
}

func randTensor(r *rand.Rand, shape ...int) *tensor.Tensor {
	x := tensor.New(shape...)
	for i := range x.Data() {
		x.Data()[i] = float32(r.NormFloat64() * 0.2)
	}
	return x
}

// clipTower returns random weights of a tiny CLIP vision tower under
// "vision_model." with cfg.NumLayers layers.
func clipTower(r *rand.Rand, cfg EncoderConfig) map[string]*tensor.Tensor {
	d, f := cfg.HiddenSize, cfg.IntermediateSize
	m := map[string]*tensor.Tensor{
		"vision_model.embeddings.patch_embedding.weight":    randTensor(r, d, cfg.NumChannels, cfg.PatchSize, cfg.PatchSize),
		"vision_model.embeddings.class_embedding":           randTensor(r, d),
		"vision_model.embeddings.position_embedding.weight": randTensor(r, cfg.NumPatches()+1, d),
	}
	for _, ln := range []string{"pre_layrnorm", "post_layernorm"} {
		m["vision_model."+ln+".weight"] = randTensor(r, d)
		m["vision_model."+ln+".bias"] = randTensor(r, d)
	}
	for i := 0; i < cfg.NumLayers; i++ {
		p := "vision_model.encoder.layers." + string(rune('0'+i)) + "."
		for _, l := range []string{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj"} {
			m[p+l+".weight"], m[p+l+".bias"] = randTensor(r, d, d), randTensor(r, d)
		}
		for _, ln := range []string{"layer_norm1", "layer_norm2"} {
			m[p+ln+".weight"], m[p+ln+".bias"] = randTensor(r, d), randTensor(r, d)
		}
		m[p+"mlp.fc1.weight"], m[p+"mlp.fc1.bias"] = randTensor(r, f, d), randTensor(r, f)
		m[p+"mlp.fc2.weight"], m[p+"mlp.fc2.bias"] = randTensor(r, d, f), randTensor(r, d)
	}
	return m
}
