package vit

import (
	"context"
	"image"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/imageproc"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

// sameOnDevice fails unless got, a tensor on dev, holds exactly the values
// of the host tensor want (bit for bit, NaNs included).
func sameOnDevice(t *testing.T, what string, dev *tensor.Device, want, got *tensor.Tensor) {
	t.Helper()
	if want == nil || got == nil {
		if want != got {
			t.Errorf("%s: host %v, device %v", what, want, got)
		}
		return
	}
	if got.Device() != dev {
		t.Errorf("%s: result on %s, want on %s", what, got.Device(), dev)
		return
	}
	h, err := tensor.ToHost(got)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if !sameShape(h.Shape(), want.Shape()) {
		t.Errorf("%s: shape %v, want %v", what, h.Shape(), want.Shape())
		return
	}
	w, g := want.Contiguous().Data(), h.Data()
	for i := range w {
		if math.Float32bits(w[i]) != math.Float32bits(g[i]) {
			t.Errorf("%s: element %d = %v on the device, %v on the host", what, i, g[i], w[i])
			return
		}
	}
}

// transfersOf runs f and returns the copies between the host and dev it
// made.
func transfersOf(dev *tensor.Device, f func()) tensor.Transfers {
	before := dev.Transfers()
	f()
	after := dev.Transfers()
	return tensor.Transfers{
		Uploads: after.Uploads - before.Uploads, Downloads: after.Downloads - before.Downloads,
		UploadBytes: after.UploadBytes - before.UploadBytes, DownloadBytes: after.DownloadBytes - before.DownloadBytes,
	}
}

// checkTransfers fails unless tr is exactly the uploads and downloads
// wanted: ups of upBytes bytes in all, downs of downBytes.
func checkTransfers(t *testing.T, what string, tr tensor.Transfers, ups, upBytes, downs, downBytes int64) {
	t.Helper()
	want := tensor.Transfers{Uploads: ups, UploadBytes: upBytes, Downloads: downs, DownloadBytes: downBytes}
	if tr != want {
		t.Errorf("%s: transfers %+v, want %+v (inputs up, results down, nothing else)", what, tr, want)
	}
}

// TestDevice_vit runs the forward passes of TestParity_vit with the model
// on the checking device (whose tensors the host cannot read): every
// result equals the host model's bit for bit (also with int8 weights), and
// each call moves only its pixel values up and what it returns down.
func TestDevice_vit(t *testing.T) {
	dir := testdata.Fixture(t, "vit")
	cases := readVitCases(t, dir)
	ctx := context.Background()
	host, err := Load(filepath.Join(dir, "model"))
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	dev := tensor.NewCheckingDevice()
	m, err := Load(filepath.Join(dir, "model"), WithDevice(dev))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Device() != dev || host.Device() != nil || m.Encoder.Device() != dev || m.Encoder.CLS.Device() != dev || m.Encoder.Pos.Device() != dev {
		t.Fatalf("encoder on %s (class token %s, positions %s), want %s", m.Encoder.Device(), m.Encoder.CLS.Device(), m.Encoder.Pos.Device(), dev)
	}

	imgs := make([]image.Image, len(cases.Images))
	for i, name := range cases.Images {
		imgs[i] = loadImageFile(t, name)
	}
	pixels, err := host.Processor().PreprocessBatch(imgs)
	if err != nil {
		t.Fatal(err)
	}
	pixBytes := int64(4 * pixels.Len())

	// The first call after Load: weights already resident, only the
	// pixels go up.
	want, err := host.Forward(ctx, pixels, Options{OutputHiddenStates: true})
	if err != nil {
		t.Fatal(err)
	}
	var got *Output
	tr := transfersOf(dev, func() { got, err = m.Forward(ctx, pixels, Options{OutputHiddenStates: true}) })
	if err != nil {
		t.Fatal(err)
	}
	checkTransfers(t, "Forward", tr, 1, pixBytes, 0, 0)
	sameOnDevice(t, "last_hidden_state", dev, want.LastHiddenState, got.LastHiddenState)
	sameOnDevice(t, "pooled", dev, want.Pooled, got.Pooled)
	sameOnDevice(t, "logits", dev, want.Logits, got.Logits)
	if len(got.HiddenStates) != len(want.HiddenStates) {
		t.Fatalf("%d hidden states, want %d", len(got.HiddenStates), len(want.HiddenStates))
	}
	for i := range want.HiddenStates {
		sameOnDevice(t, "hidden_states", dev, want.HiddenStates[i], got.HiddenStates[i])
	}
	got.Release()

	// Pixels already on the device go in as they are.
	dpix := dev.MustUpload(pixels)
	var logits *tensor.Tensor
	tr = transfersOf(dev, func() { logits, err = m.Logits(ctx, dpix) })
	if err != nil {
		t.Fatal(err)
	}
	checkTransfers(t, "Logits (device pixels)", tr, 0, 0, 0, 0)
	sameOnDevice(t, "logits (device pixels)", dev, want.Logits, logits)
	tensor.Release(logits)
	tensor.Release(dpix)

	// Classification: the logits come down, nothing else.
	wantTop, err := host.ClassifyBatch(ctx, imgs, 3)
	if err != nil {
		t.Fatal(err)
	}
	var gotTop [][]Prediction
	tr = transfersOf(dev, func() { gotTop, err = m.ClassifyBatch(ctx, imgs, 3) })
	if err != nil {
		t.Fatal(err)
	}
	checkTransfers(t, "ClassifyBatch", tr, 1, pixBytes, 1, int64(4*want.Logits.Len()))
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
	bin := filepath.Join(dir, "model", "pytorch_model.bin")
	if _, err := os.Stat(bin); err == nil {
		only := t.TempDir()
		for _, name := range []string{"config.json", "preprocessor_config.json", "pytorch_model.bin"} {
			if err := os.Symlink(filepath.Join(dir, "model", name), filepath.Join(only, name)); err != nil {
				t.Fatal(err)
			}
		}
		mb, err := Load(only, WithDevice(dev))
		if err != nil {
			t.Fatalf("pytorch_model.bin: %v", err)
		}
		defer mb.Close()
		lb, err := mb.Logits(ctx, pixels)
		if err != nil {
			t.Fatal(err)
		}
		sameOnDevice(t, "logits (pytorch_model.bin)", dev, want.Logits, lb)
	} else {
		t.Errorf("fixture lacks pytorch_model.bin: %v", err)
	}

	// int8 weights: the same quantized products on both.
	hq, err := Load(filepath.Join(dir, "model"), WithWeightType(tensor.WeightQ8))
	if err != nil {
		t.Fatal(err)
	}
	defer hq.Close()
	mq, err := Load(filepath.Join(dir, "model"), WithWeightType(tensor.WeightQ8), WithDevice(dev))
	if err != nil {
		t.Fatal(err)
	}
	defer mq.Close()
	wantQ, err := hq.Logits(ctx, pixels)
	if err != nil {
		t.Fatal(err)
	}
	var gotQ *tensor.Tensor
	tr = transfersOf(dev, func() { gotQ, err = mq.Logits(ctx, pixels) })
	if err != nil {
		t.Fatal(err)
	}
	checkTransfers(t, "Logits (int8)", tr, 1, pixBytes, 0, 0)
	sameOnDevice(t, "logits (int8)", dev, wantQ, gotQ)

	// interpolate_pos_encoding at another resolution: the position
	// embeddings are resized on the device.
	ip := cases.Interpolated
	if ip.Size == 0 {
		return
	}
	pc := host.Processor().Config()
	pc.Size = imageproc.Size{Height: ip.Size, Width: ip.Size}
	proc, err := imageproc.NewProcessor(pc)
	if err != nil {
		t.Fatal(err)
	}
	iimgs := make([]image.Image, len(ip.Images))
	for i, name := range ip.Images {
		iimgs[i] = loadImageFile(t, name)
	}
	ipix, err := proc.PreprocessBatch(iimgs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Forward(ctx, ipix, Options{}); err == nil {
		t.Errorf("%dpx input without InterpolatePosEncoding: no error", ip.Size)
	}
	iwant, err := host.Forward(ctx, ipix, Options{InterpolatePosEncoding: true})
	if err != nil {
		t.Fatal(err)
	}
	var igot *Output
	tr = transfersOf(dev, func() { igot, err = m.Forward(ctx, ipix, Options{InterpolatePosEncoding: true}) })
	if err != nil {
		t.Fatal(err)
	}
	checkTransfers(t, "Forward (interpolated)", tr, 1, int64(4*ipix.Len()), 0, 0)
	sameOnDevice(t, "logits_interpolated", dev, iwant.Logits, igot.Logits)
	sameOnDevice(t, "last_hidden_state (interpolated)", dev, iwant.LastHiddenState, igot.LastHiddenState)
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
				tr := transfersOf(dev, func() {
					if _, err := e.Forward(ctx, px, false); err != nil {
						t.Fatal(err)
					}
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
				tr := transfersOf(dev, func() { last, hidden, err = e.ForwardHidden(ctx, in.px, in.interpolate) })
				if err != nil {
					t.Fatal(err)
				}
				checkTransfers(t, in.what, tr, 1, int64(4*in.px.Len()), 0, 0)
				sameOnDevice(t, in.what+": last hidden state", dev, wantLast, last)
				for i := range wantHidden {
					sameOnDevice(t, in.what+": hidden state", dev, wantHidden[i], hidden[i])
				}
				wantPooled, err := host.Pooled(wantLast)
				if err != nil {
					t.Fatal(err)
				}
				pooled, err := e.Pooled(last)
				if err != nil {
					t.Fatal(err)
				}
				sameOnDevice(t, in.what+": pooled", dev, wantPooled, pooled)
				emb, err := host.Embeddings(in.px, in.interpolate)
				if err != nil {
					t.Fatal(err)
				}
				got, err := e.ForwardEmbeddings(ctx, emb)
				if err != nil {
					t.Fatal(err)
				}
				want, err := host.ForwardEmbeddings(ctx, emb)
				if err != nil {
					t.Fatal(err)
				}
				sameOnDevice(t, in.what+": from embeddings", dev, want, got)
			}
		})
	}

	t.Run("ViTModel pooler", func(t *testing.T) {
		c := tinyConfig()
		c.ID2Label = nil
		c.Architectures = []string{"ViTModel"}
		shapes := weightShapes(c, 0)
		shapes["pooler.dense.weight"] = []int{16, 16}
		shapes["pooler.dense.bias"] = []int{16}
		host, err := New(c, randomStore(shapes, 4))
		if err != nil {
			t.Fatal(err)
		}
		dev := tensor.NewCheckingDevice()
		ds := randomStore(shapes, 4)
		ds.Device = dev
		defer ds.Close()
		m, err := New(c, ds)
		if err != nil {
			t.Fatal(err)
		}
		img := []image.Image{quadrants()}
		want, err := host.ForwardImages(ctx, img, Options{})
		if err != nil {
			t.Fatal(err)
		}
		var got *Output
		tr := transfersOf(dev, func() { got, err = m.ForwardImages(ctx, img, Options{}) })
		if err != nil {
			t.Fatal(err)
		}
		checkTransfers(t, "ForwardImages", tr, 1, 4*3*32*32, 0, 0)
		sameOnDevice(t, "pooler output", dev, want.Pooled, got.Pooled)
		sameOnDevice(t, "last hidden state", dev, want.LastHiddenState, got.LastHiddenState)
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
