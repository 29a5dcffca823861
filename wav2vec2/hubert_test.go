package wav2vec2

import (
	"errors"
	"strings"
	"testing"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/nn"
)

func TestHubertConfig(t *testing.T) {
	const dims = `"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2`
	for _, tc := range []struct {
		name, json string
		hubert     bool
		projLN     bool
	}{
		{"model_type", `{` + dims + `, "model_type": "hubert"}`, true, true},
		{"architecture only", `{` + dims + `, "architectures": ["HubertForCTC"]}`, true, true},
		{"no projection layer norm", `{` + dims + `, "model_type": "hubert", "architectures": ["HubertForCTC"], "feat_proj_layer_norm": false}`, true, false},
		{"wav2vec2 ignores feat_proj_layer_norm", `{` + dims + `, "model_type": "wav2vec2", "feat_proj_layer_norm": false}`, false, true},
		{"wav2vec2 architecture only", `{` + dims + `, "architectures": ["Wav2Vec2ForCTC"]}`, false, true},
	} {
		c, err := ParseConfig(tc.name, []byte(tc.json))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if c.IsHubert() != tc.hubert || c.hasFeatProjLayerNorm() != tc.projLN {
			t.Errorf("%s: IsHubert %v, projection layer norm %v; want %v, %v", tc.name, c.IsHubert(), c.hasFeatProjLayerNorm(), tc.hubert, tc.projLN)
		}
		wantArch := map[bool]string{false: "Wav2Vec2ForCTC", true: "HubertForCTC"}[tc.hubert]
		if c.Architecture() != wantArch {
			t.Errorf("%s: Architecture() = %s, want %s", tc.name, c.Architecture(), wantArch)
		}
	}
	for _, tc := range []struct{ name, json, want string }{
		{"mismatch", `{` + dims + `, "model_type": "hubert", "architectures": ["Wav2Vec2ForCTC"]}`, "Wav2Vec2ForCTC"},
		{"mismatch2", `{` + dims + `, "model_type": "wav2vec2", "architectures": ["HubertForCTC"]}`, "HubertForCTC"},
		{"pretraining", `{` + dims + `, "model_type": "hubert", "architectures": ["HubertModel"]}`, "HubertModel"},
		{"other", `{` + dims + `, "model_type": "data2vec-audio"}`, "data2vec-audio"},
		{"batch norm", `{` + dims + `, "model_type": "hubert", "conv_pos_batch_norm": true}`, "conv_pos_batch_norm"},
	} {
		_, err := ParseConfig(tc.name, []byte(tc.json))
		if !errors.Is(err, nn.ErrUnsupportedArchitecture) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want ErrUnsupportedArchitecture naming %q", tc.name, err, tc.want)
		}
	}
}

// TestHubertWeightNames checks that a HuBERT network reads "hubert."
// names, not "wav2vec2." ones, and that feat_proj_layer_norm false needs no
// projection layer norm.
func TestHubertWeightNames(t *testing.T) {
	_, c, s := smallNetwork(t, variants[5], 2) // HuBERT, feat_proj_layer_norm false
	c.ModelType = ModelTypeWav2Vec2
	_, err := NewNetwork(c, s.Root())
	if !errors.Is(err, checkpoint.ErrMissingWeights) || !strings.Contains(err.Error(), "feature_projection.layer_norm") {
		t.Errorf("HuBERT weights as wav2vec2: err = %v, want the projection layer norm missing", err)
	}
}
