// Command bench7b measures a Llama-2-7B-shaped model at real size with
// random BF16 weights: load time (packing included), peak RSS and ms/token of
// decoding. From the repository root:
//
//	go run ./llm/testdata/bench7b -build            # write /tmp/goformer-llama7b (≈ 13.5 GB)
//	go run ./llm/testdata/bench7b -threads 2 -tokens 16
//
// The weights file is memory-mapped by llm.Load and its BF16 weights stay
// 16-bit: the linear layers are packed as BF16 (the file's pages let go as
// they are packed) and the token embedding is read row by row from the
// mapping. Delete the directory afterwards; never commit it.
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/llm"
	"github.com/goformer/goformer/tensor"
)

// Llama-2-7B's dimensions (meta-llama/Llama-2-7b-hf config.json).
const (
	hidden, layers, heads, inter, vocab, maxPos = 4096, 32, 32, 11008, 32000, 4096
)

func config() map[string]any {
	return map[string]any{
		"architectures": []string{"LlamaForCausalLM"}, "model_type": "llama",
		"bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu", "hidden_size": hidden,
		"intermediate_size": inter, "max_position_embeddings": maxPos, "num_attention_heads": heads,
		"num_hidden_layers": layers, "num_key_value_heads": heads, "rms_norm_eps": 1e-5,
		"rope_scaling": nil, "tie_word_embeddings": false, "torch_dtype": "bfloat16", "vocab_size": vocab,
	}
}

func shapes() map[string][]int {
	s := map[string][]int{
		"model.embed_tokens.weight": {vocab, hidden},
		"model.norm.weight":         {hidden},
		"lm_head.weight":            {vocab, hidden},
	}
	for i := 0; i < layers; i++ {
		p := fmt.Sprintf("model.layers.%d.", i)
		for _, n := range []string{"q_proj", "k_proj", "v_proj", "o_proj"} {
			s[p+"self_attn."+n+".weight"] = []int{hidden, hidden}
		}
		s[p+"mlp.gate_proj.weight"] = []int{inter, hidden}
		s[p+"mlp.up_proj.weight"] = []int{inter, hidden}
		s[p+"mlp.down_proj.weight"] = []int{hidden, inter}
		s[p+"input_layernorm.weight"] = []int{hidden}
		s[p+"post_attention_layernorm.weight"] = []int{hidden}
	}
	return s
}

func bf16(v float32) uint16 {
	b := math.Float32bits(v)
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// build writes config.json and a BF16 model.safetensors. Values are drawn
// from N(0, 0.02²) once and reused at random offsets (norm weights are 1):
// the speed of a product does not depend on its values.
func build(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cj, _ := json.MarshalIndent(config(), "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cj, 0o644); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		return err
	}
	defer f.Close()
	entries, err := testdata.WriteSafetensorsHeader(f, shapes(), "BF16", 2, map[string]string{"format": "pt"})
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(7, 7))
	const tab = 1 << 22
	table := make([]byte, 2*tab)
	for i := 0; i < tab; i++ {
		binary.LittleEndian.PutUint16(table[2*i:], bf16(float32(r.NormFloat64()*0.02)))
	}
	one := make([]byte, 2*hidden)
	for i := 0; i < hidden; i++ {
		binary.LittleEndian.PutUint16(one[2*i:], bf16(1))
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name, "norm.weight") {
			if _, err := f.Write(one); err != nil {
				return err
			}
			continue
		}
		for left := 2 * e.Len; left > 0; {
			o := 2 * r.IntN(tab/2)
			chunk := min(left, len(table)-o)
			if _, err := f.Write(table[o : o+chunk]); err != nil {
				return err
			}
			left -= chunk
		}
	}
	return f.Sync()
}

// mem returns the process's current and peak resident set sizes in GiB.
func mem() string {
	var parts []string
	for _, f := range testdata.MemStatus() {
		parts = append(parts, fmt.Sprintf("%s %.2f GiB", f.Name, f.KB/(1<<20)))
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return fmt.Sprintf("%s; Go heap %.2f GiB", strings.Join(parts, ", "), float64(ms.HeapAlloc)/(1<<30))
}

// since formats the CPU time spent since (u0, s0): on a shared machine,
// the wall-clock figures say how long a step took and the CPU figures how
// much work it was.
func since(u0, s0 time.Duration) string {
	u, s := testdata.CPUTimes()
	return fmt.Sprintf("CPU user %v sys %v", (u - u0).Round(time.Millisecond), (s - s0).Round(time.Millisecond))
}

func main() {
	dir := flag.String("dir", "/tmp/goformer-llama7b", "model directory")
	doBuild := flag.Bool("build", false, "(re)write the model directory and exit")
	threads := flag.Int("threads", 2, "tensor threads")
	tokens := flag.Int("tokens", 16, "tokens to decode")
	promptLen := flag.Int("prompt", 8, "prompt tokens")
	flag.Parse()
	if *doBuild {
		t0 := time.Now()
		if err := build(*dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		st, _ := os.Stat(filepath.Join(*dir, "model.safetensors"))
		fmt.Printf("wrote %s: %.2f GB in %v\n", *dir, float64(st.Size())/1e9, time.Since(t0).Round(time.Millisecond))
		return
	}
	tensor.SetThreads(*threads)
	st, err := os.Stat(filepath.Join(*dir, "model.safetensors"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err, "(run with -build first)")
		os.Exit(1)
	}
	fmt.Printf("weights %.2f GB BF16, %d threads, GOMAXPROCS %d\n", float64(st.Size())/1e9, tensor.Threads(), runtime.GOMAXPROCS(0))
	t0 := time.Now()
	m, err := llm.Load(*dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer m.Close()
	// Load packs every weight (BF16 panels) before it returns.
	fmt.Printf("load (map + build + pack): %v | %s\n", time.Since(t0).Round(time.Millisecond), mem())
	ctx := context.Background()
	s, err := m.NewState(1)
	if err != nil {
		panic(err)
	}
	prompt := make([]int, *promptLen)
	prompt[0] = 1
	for i := 1; i < len(prompt); i++ {
		prompt[i] = 100 + 37*i
	}
	t1 := time.Now()
	u0, s0 := testdata.CPUTimes()
	lg, err := s.PrefillIDs(ctx, [][]int{prompt}, nil)
	if err != nil {
		panic(err)
	}
	fmt.Printf("prefill %d tokens: %v (%s) | %s\n", len(prompt), time.Since(t1).Round(time.Millisecond), since(u0, s0), mem())
	u0, s0 = testdata.CPUTimes()
	var per []float64
	next := tensor.Argmax(lg.Data())
	tensor.Release(lg)
	for i := 0; i < *tokens; i++ {
		t := time.Now()
		lg, err = s.Step(ctx, []int{next})
		if err != nil {
			panic(err)
		}
		next = tensor.Argmax(lg.Data())
		tensor.Release(lg)
		per = append(per, float64(time.Since(t).Microseconds())/1000)
	}
	sorted := slices.Clone(per)
	slices.Sort(sorted)
	var sum float64
	for _, v := range per {
		sum += v
	}
	fmt.Printf("decode %d tokens: mean %.0f ms/token, median %.0f, min %.0f, max %.0f (%.2f tokens/s)\n",
		len(per), sum/float64(len(per)), sorted[len(sorted)/2], sorted[0], sorted[len(sorted)-1], 1000*float64(len(per))/sum)
	fmt.Printf("per token (ms): %.0f\n", per)
	fmt.Printf("decode %s for %d tokens\n", since(u0, s0), len(per))
	fmt.Printf("final | %s\n", mem())
	s.Release()
}
