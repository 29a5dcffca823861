// Command rss measures the peak RSS of Whisper-base (tensor/PERFORMANCE.md).
// From the repository root:
//
//	go run ./tensor/testdata/perf/rss -build               # write the model (F32; -f16 for F16)
//	go run ./tensor/testdata/perf/rss -tokens 20 [-free] [-kv16]   # load, encode 30 s, decode, print VmHWM
//
// The model directory holds configs/whisper-base/config.json, the real
// Whisper vocabulary and random weights; -free calls tensor.FreeScratch after
// encoding.
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
	"github.com/goformer/goformer/whisper"
	"github.com/x448/float16"
)

func shapes(d, ffn, enc, dec, mels, vocab, src, tgt int) map[string][]int {
	s := map[string][]int{
		"model.encoder.conv1.weight": {d, mels, 3}, "model.encoder.conv1.bias": {d},
		"model.encoder.conv2.weight": {d, d, 3}, "model.encoder.conv2.bias": {d},
		"model.encoder.embed_positions.weight": {src, d},
		"model.encoder.layer_norm.weight":      {d}, "model.encoder.layer_norm.bias": {d},
		"model.decoder.embed_tokens.weight":    {vocab, d},
		"model.decoder.embed_positions.weight": {tgt, d},
		"model.decoder.layer_norm.weight":      {d}, "model.decoder.layer_norm.bias": {d},
	}
	attn := func(p string) {
		for _, n := range []string{"q_proj", "k_proj", "v_proj", "out_proj"} {
			s[p+"."+n+".weight"] = []int{d, d}
			if n != "k_proj" {
				s[p+"."+n+".bias"] = []int{d}
			}
		}
	}
	common := func(p string) {
		attn(p + ".self_attn")
		s[p+".self_attn_layer_norm.weight"], s[p+".self_attn_layer_norm.bias"] = []int{d}, []int{d}
		s[p+".fc1.weight"], s[p+".fc1.bias"] = []int{ffn, d}, []int{ffn}
		s[p+".fc2.weight"], s[p+".fc2.bias"] = []int{d, ffn}, []int{d}
		s[p+".final_layer_norm.weight"], s[p+".final_layer_norm.bias"] = []int{d}, []int{d}
	}
	for i := 0; i < enc; i++ {
		common(fmt.Sprintf("model.encoder.layers.%d", i))
	}
	for i := 0; i < dec; i++ {
		p := fmt.Sprintf("model.decoder.layers.%d", i)
		common(p)
		attn(p + ".encoder_attn")
		s[p+".encoder_attn_layer_norm.weight"], s[p+".encoder_attn_layer_norm.bias"] = []int{d}, []int{d}
	}
	return s
}

func writeSafetensors(path string, sh map[string][]int, f16 bool) error {
	es, dt := 4, "F32"
	if f16 {
		es, dt = 2, "F16"
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	entries, err := testdata.WriteSafetensorsHeader(f, sh, dt, es, nil)
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 0, 1<<20)
	for _, e := range entries {
		for i := 0; i < e.Len; i++ {
			v := float32(r.NormFloat64() * 0.02)
			if strings.HasSuffix(e.Name, "layer_norm.weight") {
				v = 1
			}
			if f16 {
				buf = binary.LittleEndian.AppendUint16(buf, float16.Fromfloat32(v).Bits())
			} else {
				buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
			}
			if len(buf) >= 1<<20 {
				f.Write(buf)
				buf = buf[:0]
			}
		}
	}
	_, err = f.Write(buf)
	return err
}

func vmHWM() string {
	var parts []string
	for _, f := range testdata.MemStatus() {
		parts = append(parts, fmt.Sprintf("%s: %.0f kB", f.Name, f.KB))
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("   %s | heap alloc %d MiB, heap sys %d MiB, GCs %d\n", strings.Join(parts, ", "), ms.HeapAlloc>>20, ms.HeapSys>>20, ms.NumGC)
	return ""
}

func main() {
	dir := flag.String("dir", "/tmp/goformer-rss/whisper-base", "model directory")
	f16 := flag.Bool("f16", false, "write F16 weights")
	tokens := flag.Int("tokens", 20, "tokens to decode")
	build := flag.Bool("build", false, "(re)build the model directory")
	free := flag.Bool("free", false, "call tensor.FreeScratch after encoding")
	kv16 := flag.Bool("kv16", false, "keep cross-attention keys and values in F16 (whisper.WithKVType)")
	shared := flag.String("shared", "../shared", "the shared reference data directory")
	memprofile := flag.String("memprofile", "", "write a heap profile (live objects) here at the end")
	flag.Parse()
	if *memprofile != "" {
		runtime.MemProfileRate = 4096
	}
	if *build {
		os.MkdirAll(*dir, 0o755)
		cfg, err := os.ReadFile(filepath.Join(*shared, "configs", "whisper-base", "config.json"))
		if err != nil {
			panic(err)
		}
		os.WriteFile(filepath.Join(*dir, "config.json"), cfg, 0o644)
		for _, f := range []string{"vocab.json", "merges.txt", "added_tokens.json"} {
			b, err := os.ReadFile(filepath.Join(*shared, "vocab", "whisper", f))
			if err == nil {
				os.WriteFile(filepath.Join(*dir, f), b, 0o644)
			}
		}
		if err := writeSafetensors(filepath.Join(*dir, "model.safetensors"), shapes(512, 2048, 6, 6, 80, 51865, 1500, 448), *f16); err != nil {
			panic(err)
		}
		return
	}
	st, _ := os.Stat(filepath.Join(*dir, "model.safetensors"))
	t0 := time.Now()
	var opts []whisper.Option
	if *kv16 {
		opts = append(opts, whisper.WithKVType(tensor.WeightF16))
	}
	m, err := whisper.Load(*dir, opts...)
	if err != nil {
		panic(err)
	}
	fmt.Printf("weight file %.1f MiB, load %v\n", float64(st.Size())/(1<<20), time.Since(t0))
	vmHWM()
	mel := tensor.New(80, 3000)
	ctx := context.Background()
	t0 = time.Now()
	enc, err := m.Encode(ctx, mel)
	if err != nil {
		panic(err)
	}
	fmt.Printf("encode %v\n", time.Since(t0))
	vmHWM()
	tensor.Release(mel)
	if *free {
		tensor.FreeScratch()
	}
	dec, err := m.NewDecoder(enc)
	if err != nil {
		panic(err)
	}
	fmt.Println("new decoder")
	vmHWM()
	h, err := dec.Forward(ctx, [][]int{{50258, 50259, 50359, 50363}}, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println("prompt")
	vmHWM()
	t0 = time.Now()
	for i := 0; i < *tokens; i++ {
		// As whisper's decoding loop does, what is used is released.
		hl := h.Slice(1, h.Dim(1)-1, h.Dim(1))
		lg, err := dec.Logits(hl)
		if err != nil {
			panic(err)
		}
		next := tensor.Argmax(lg.Data())
		tensor.Release(lg)
		tensor.Release(hl)
		tensor.Release(h)
		if h, err = dec.Forward(ctx, [][]int{{next}}, nil); err != nil {
			panic(err)
		}
	}
	fmt.Printf("decode %v per token\n", time.Since(t0)/time.Duration(*tokens))
	vmHWM()
	if *memprofile != "" {
		f, err := os.Create(*memprofile)
		if err != nil {
			panic(err)
		}
		runtime.GC() // the profile shows what the last collection kept
		if err := pprof.WriteHeapProfile(f); err != nil {
			panic(err)
		}
		f.Close()
	}
	runtime.KeepAlive(dec)
	runtime.KeepAlive(h)
}
