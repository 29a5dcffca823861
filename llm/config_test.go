package llm

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/goformer/goformer/generate"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/nn"
)

// llama2Config is meta-llama/Llama-2-7b-hf's config.json.
const llama2Config = `{"architectures":["LlamaForCausalLM"],"bos_token_id":1,"eos_token_id":2,
"hidden_act":"silu","hidden_size":4096,"initializer_range":0.02,"intermediate_size":11008,
"max_position_embeddings":4096,"model_type":"llama","num_attention_heads":32,"num_hidden_layers":32,
"num_key_value_heads":32,"pretraining_tp":1,"rms_norm_eps":1e-05,"rope_scaling":null,
"tie_word_embeddings":false,"torch_dtype":"float16","transformers_version":"4.31.0.dev0","use_cache":true,"vocab_size":32000}`

// opt350mConfig is facebook/opt-350m's config.json (post-norm, projected
// embeddings).
const opt350mConfig = `{"_name_or_path":"facebook/opt-350m","activation_dropout":0.0,"activation_function":"relu",
"architectures":["OPTForCausalLM"],"attention_dropout":0.0,"bos_token_id":2,"do_layer_norm_before":false,
"dropout":0.1,"eos_token_id":2,"ffn_dim":4096,"hidden_size":1024,"init_std":0.02,"layerdrop":0.0,
"max_position_embeddings":2048,"model_type":"opt","num_attention_heads":16,"num_hidden_layers":24,
"pad_token_id":1,"prefix":"</s>","torch_dtype":"float16","transformers_version":"4.21.0.dev0",
"use_cache":true,"vocab_size":50272,"word_embed_proj_dim":512}`

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig([]byte(llama2Config))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{ModelType: Llama, VocabSize: 32000, HiddenSize: 4096, NumLayers: 32, NumHeads: 32, NumKVHeads: 32,
		HeadDim: 128, IntermediateSize: 11008, MaxPositions: 4096, Activation: "silu", WordEmbedProjDim: 4096,
		RMSNormEps: 1e-5, RopeTheta: 10000, BOSTokenID: 1, EOSTokenIDs: []int{2}, PadTokenID: -1}
	if !configEqual(c, want) {
		t.Errorf("Llama-2-7B\n got %+v\nwant %+v", c, want)
	}
	c, err = ParseConfig([]byte(opt350mConfig))
	if err != nil {
		t.Fatal(err)
	}
	want = Config{ModelType: OPT, VocabSize: 50272, HiddenSize: 1024, NumLayers: 24, NumHeads: 16, NumKVHeads: 16,
		HeadDim: 64, IntermediateSize: 4096, MaxPositions: 2048, Activation: "relu", WordEmbedProjDim: 512,
		EnableBias: true, LayerNormElementwiseAffine: true, TieWordEmbeddings: true,
		BOSTokenID: 2, EOSTokenIDs: []int{2}, PadTokenID: 1}
	if !configEqual(c, want) {
		t.Errorf("OPT-350m\n got %+v\nwant %+v", c, want)
	}
	if c.EmbedDim() != 512 {
		t.Errorf("OPT-350m embedding width %d, want 512", c.EmbedDim())
	}
	// Llama 3 style: grouped-query attention, a list of end tokens,
	// explicit head_dim, another theta, linear scaling.
	c, err = ParseConfig([]byte(`{"model_type":"llama","hidden_size":64,"num_attention_heads":8,"num_key_value_heads":2,
		"head_dim":16,"num_hidden_layers":1,"intermediate_size":96,"vocab_size":300,"eos_token_id":[7,9],
		"rope_theta":500000.0,"rope_scaling":{"rope_type":"linear","factor":4.0},"bos_token_id":null}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.NumKVHeads != 2 || c.HeadDim != 16 || !slices.Equal(c.EOSTokenIDs, []int{7, 9}) || c.RopeTheta != 500000 ||
		c.RopeScalingFactor != 4 || c.BOSTokenID != -1 {
		t.Errorf("GQA config: %+v", c)
	}
	// Multimodal configs: the text_config is read, with the defaults of
	// its model type.
	for _, fx := range []struct {
		name, typ string
		eos       int
	}{{"blip2", OPT, 2}, {"llava", Llama, 2}} {
		path := filepath.Join(testdata.Fixture(t, fx.name), "model", "config.json")
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		c, err := ParseConfig(raw)
		if err != nil {
			t.Fatalf("%s: %v", fx.name, err)
		}
		if c.ModelType != fx.typ || !slices.Equal(c.EOSTokenIDs, []int{fx.eos}) {
			t.Errorf("%s: %+v", fx.name, c)
		}
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		json string
		want error
	}{
		{`{"model_type":"gpt2"}`, nn.ErrUnsupportedArchitecture},
		{`{"hidden_size":8}`, nn.ErrUnsupportedArchitecture},
		{`{"model_type":"llava","text_config":{"model_type":"mistral"}}`, nn.ErrUnsupportedArchitecture},
		{`{"model_type":"llama",`, nn.ErrConfig},
		{`{"model_type":"llama","rope_scaling":{"type":"dynamic","factor":2.0}}`, nn.ErrConfig},
		{`{"model_type":"llama","rope_scaling":{"rope_type":"llama3","factor":8.0}}`, nn.ErrConfig},
		{`{"model_type":"llama","rope_scaling":{"type":"linear"}}`, nn.ErrConfig},
		{`{"model_type":"llama","rope_scaling":{"type":"linear","factor":0.5}}`, nn.ErrConfig},
		{`{"model_type":"llama","num_key_value_heads":5}`, nn.ErrConfig},
		{`{"model_type":"llama","head_dim":7}`, nn.ErrConfig},
		{`{"model_type":"llama","rms_norm_eps":0}`, nn.ErrConfig},
		{`{"model_type":"llama","hidden_act":"mystery"}`, nn.ErrConfig},
		{`{"model_type":"llama","vocab_size":-1}`, nn.ErrConfig},
		{`{"model_type":"llama","eos_token_id":32000}`, nn.ErrConfig},
		{`{"model_type":"llama","eos_token_id":"x"}`, nn.ErrConfig},
		{`{"model_type":"opt","hidden_size":10,"num_attention_heads":3}`, nn.ErrConfig},
		{`{"model_type":"opt","num_hidden_layers":100000000}`, nn.ErrConfig},
	} {
		if _, err := ParseConfig([]byte(tc.json)); !errors.Is(err, tc.want) {
			t.Errorf("%s: error %v, want %v", tc.json, err, tc.want)
		}
	}
}

func TestParseGenerationConfig(t *testing.T) {
	cfg, _ := DefaultConfig(Llama)
	base := DefaultOptions(cfg)
	o, err := ParseGenerationConfig([]byte(`{"bos_token_id":1,"eos_token_id":2,"pad_token_id":32001}`), base)
	if err != nil {
		t.Fatal(err)
	}
	if o.MaxNewTokens != 20 || o.NumBeams != 1 || o.LengthPenalty != 1 || o.Sample != nil || !slices.Equal(o.EOS, []int{2}) {
		t.Errorf("llava's generation_config: %+v", o)
	}
	o, err = ParseGenerationConfig([]byte(`{"max_length":64,"num_beams":4,"early_stopping":"never","length_penalty":0.5,
		"no_repeat_ngram_size":3,"do_sample":true,"temperature":0.6,"top_k":0,"top_p":0.9,"suppress_tokens":[5]}`), base)
	if err != nil {
		t.Fatal(err)
	}
	if o.MaxLength != 64 || o.MaxNewTokens != 0 || o.NumBeams != 4 || o.EarlyStopping != generate.EarlyStoppingNever ||
		o.LengthPenalty != 0.5 || o.NoRepeatNgramSize != 3 || !slices.Equal(o.SuppressTokens, []int{5}) ||
		o.Sample == nil || o.Sample.Temperature != 0.6 || o.Sample.TopK != 0 || o.Sample.TopP != 0.9 {
		t.Errorf("generation config: %+v, sampling %+v", o, o.Sample)
	}
	for _, bad := range []string{`{"num_beams":-1}`, `{"eos_token_id":"x"}`, `{"early_stopping":"sometimes"}`, `[`} {
		if _, err := ParseGenerationConfig([]byte(bad), base); !errors.Is(err, nn.ErrConfig) {
			t.Errorf("%s: error %v, want nn.ErrConfig", bad, err)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{llama2Config, opt350mConfig, `{"model_type":"llava","text_config":{"model_type":"llama"}}`,
		`{"model_type":"llama","rope_scaling":{"type":"linear","factor":2}}`, `{"model_type":"opt","eos_token_id":[1,2]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := ParseConfig(raw)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("ParseConfig accepted a config Validate refuses: %v", err)
		}
		if c.NumHeads%c.NumKVHeads != 0 || c.HeadDim <= 0 || c.EmbedDim() <= 0 {
			t.Fatalf("inconsistent config accepted: %+v", c)
		}
	})
}
