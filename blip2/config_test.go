package blip2

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/llm"
	"github.com/goformer/goformer/nn"
)

func TestParseConfigDefaults(t *testing.T) {
	c, err := ParseConfig([]byte(`{"model_type": "blip-2"}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := DefaultConfig(); !reflect.DeepEqual(c, want) {
		t.Errorf("defaults\n got %+v\nwant %+v", c, want)
	}
	if c.Generation.MaxLength != 20 || c.Generation.MaxNewTokens != 0 || c.Generation.NumBeams != 1 {
		t.Errorf("generation defaults %+v, want max_length 20, greedy", c.Generation.Options)
	}
}

func TestParseConfigFixture(t *testing.T) {
	path := filepath.Join(testdata.Fixture(t, "blip2"), "model", "config.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	text, err := llm.ParseConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Text, text) {
		t.Errorf("text config %+v, llm reads %+v", c.Text, text)
	}
	if c.QFormer.EncoderHiddenSize != c.Vision.HiddenSize {
		t.Errorf("qformer encoder_hidden_size %d, vision hidden_size %d", c.QFormer.EncoderHiddenSize, c.Vision.HiddenSize)
	}
	if c.NumQueryTokens <= 0 || c.QFormer.CrossAttentionFrequency <= 0 || !c.Vision.QKVBias {
		t.Errorf("config %+v", c)
	}
}

func TestParseConfigGeneration(t *testing.T) {
	for _, tc := range []struct {
		text              string
		maxNew, maxLen, b int
	}{
		{`{"model_type": "opt"}`, 0, 20, 1},
		{`{"model_type": "opt", "max_length": 20}`, 0, 20, 1},
		{`{"model_type": "opt", "max_length": 32, "num_beams": 5}`, 0, 32, 5},
		{`{"model_type": "opt", "max_new_tokens": 7, "max_length": 32}`, 7, 0, 1},
	} {
		c, err := ParseConfig([]byte(`{"model_type": "blip-2", "text_config": ` + tc.text + `}`))
		if err != nil {
			t.Fatalf("%s: %v", tc.text, err)
		}
		g := c.Generation
		if g.MaxNewTokens != tc.maxNew || g.MaxLength != tc.maxLen || g.NumBeams != tc.b {
			t.Errorf("%s: max_new_tokens %d, max_length %d, beams %d; want %d, %d, %d", tc.text, g.MaxNewTokens, g.MaxLength, g.NumBeams, tc.maxNew, tc.maxLen, tc.b)
		}
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		json string
		want error
		says string
	}{
		{`{`, nn.ErrConfig, "config.json"},
		{`{"model_type": "blip"}`, nn.ErrUnsupportedArchitecture, "blip"},
		{`{"text_config": {"model_type": "t5"}}`, nn.ErrUnsupportedArchitecture, "t5"},
		{`{"qformer_config": {"cross_attention_frequency": 0}}`, nn.ErrConfig, "cross_attention_frequency"},
		{`{"qformer_config": {"hidden_size": 50, "num_attention_heads": 3}}`, nn.ErrConfig, "qformer_config.hidden_size"},
		{`{"qformer_config": {"position_embedding_type": "relative_key"}}`, nn.ErrConfig, "position_embedding_type"},
		{`{"vision_config": {"patch_size": 500}}`, nn.ErrConfig, "patch_size"},
		{`{"vision_config": {"hidden_act": "swish2"}}`, nn.ErrConfig, "hidden_act"},
		{`{"num_query_tokens": 0}`, nn.ErrConfig, "num_query_tokens"},
		{`{"num_query_tokens": 5000, "text_config": {"model_type": "opt", "max_position_embeddings": 64}}`, nn.ErrConfig, "num_query_tokens"},
		{`{"text_config": {"model_type": "opt", "hidden_size": 64, "word_embed_proj_dim": 32, "num_attention_heads": 2}}`, nn.ErrConfig, "word_embed_proj_dim"},
		{`{"text_config": {"model_type": "opt", "bos_token_id": null}}`, nn.ErrConfig, "bos_token_id"},
		{`{"text_config": {"model_type": "opt", "max_length": -1}}`, nn.ErrConfig, "negative"},
	} {
		_, err := ParseConfig([]byte(tc.json))
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: error %v, want %v", tc.json, err, tc.want)
		} else if !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: error %q does not name %q", tc.json, err, tc.says)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"model_type": "blip-2"}`))
	f.Add([]byte(`{"num_query_tokens": 8, "qformer_config": {"cross_attention_frequency": 1}, "text_config": {"model_type": "opt", "max_new_tokens": 3}}`))
	testdata.FuzzSeedFiles(f, 1<<20, []string{"fixtures", "blip2", "model", "config.json"})
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := ParseConfig(raw)
		testdata.Parsed(t, c, err, nn.ErrConfig, nn.ErrUnsupportedArchitecture)
	})
}
