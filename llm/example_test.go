package llm_test

import (
	"context"
	"fmt"
	"log"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/generate"
	"github.com/goformer/goformer/llm"
	"github.com/goformer/goformer/tensor"
)

// Generating from a plain checkpoint, streaming each token as it comes.
func Example() {
	m, err := llm.Load("path/to/Llama-2-7b-hf") // config.json, *.safetensors
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	opt := m.DefaultOptions() // transformers' defaults and generation_config.json
	opt.MaxNewTokens = 32
	opt.Sample = &generate.Sampling{Temperature: 0.7, TopP: 0.9, Seed: 1}
	opt.OnToken = func(id int) { fmt.Print(id, " ") } // decode with the tokenizer
	prompt := []int{1, 15043, 3186}                   // "<s> Hello world" (Llama-2 ids)
	if _, err := m.Generate(context.Background(), llm.Prompt{IDs: prompt}, opt); err != nil {
		log.Fatal(err)
	}
}

// How a multimodal model runs its language model: image features spliced
// into the token embeddings, transformers' input_ids passed alongside.
func ExampleModel_Embed() {
	store, err := checkpoint.LoadDir("path/to/llava-1.5-7b-hf")
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	cfg, err := llm.ParseConfig([]byte(`{"model_type":"llava","text_config":{"model_type":"llama"}}`)) // config.json
	if err != nil {
		log.Fatal(err)
	}
	lm, err := llm.New(cfg, store.Root().Sub("language_model"))
	if err != nil {
		log.Fatal(err)
	}
	ids := []int{1, 3148, 1001, 29901, 29871, 32000, 13} // "USER: <image>\n…"
	var features *tensor.Tensor                          // [576, hidden]: the projected image
	before, _ := lm.Embed(ids[:5])
	after, _ := lm.Embed(ids[6:])
	embeds, err := tensor.Concat(0, before, features, after)
	if err != nil {
		log.Fatal(err)
	}
	opt := lm.DefaultOptions()
	out, err := lm.Generate(context.Background(), llm.Prompt{IDs: ids, Embeds: embeds}, opt)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(out[len(ids):]) // the answer's ids
}
