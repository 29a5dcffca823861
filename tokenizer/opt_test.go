package tokenizer

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/goformer/goformer/internal/testdata"
)

// TestParity_blip2 checks OPT's tokenizer on the blip2 fixture (transformers
// 4.30.2): prompt ids with </s> in front, the tokenizer cases (special
// tokens in the text swallow the spaces around them) and decoded
// generations, with the fixture's model directory and vocab/opt.
func TestParity_blip2(t *testing.T) {
	type gen struct {
		Prompt    string `json:"prompt"`
		PromptIDs []int  `json:"prompt_ids"`
		IDs       []int  `json:"ids"`
		Text      string `json:"text"`
	}
	var cases struct {
		Unconditional []gen `json:"unconditional"`
		Prompted      []gen `json:"prompted"`
		Beam          []gen `json:"unconditional_beam3"`
		TeacherForced struct {
			Text string `json:"text"`
			IDs  []int  `json:"ids"`
		} `json:"teacher_forced"`
		Tokenizer []struct {
			Text    string `json:"text"`
			IDs     []int  `json:"ids"`
			Decoded string `json:"decoded"`
		} `json:"tokenizer"`
	}
	dir := testdata.Cases(t, "blip2", &cases)
	if len(cases.Tokenizer) == 0 || len(cases.Prompted) == 0 {
		t.Fatal("fixtures/blip2/cases.json has no tokenizer or prompted cases")
	}
	all := EncodeOptions{AllSpecial: true}
	for _, d := range []string{filepath.Join(dir, "model"), testdata.Path(t, "vocab", "opt")} {
		tok := loadAs[*BPE](t, LoadFromDir, d)
		direct := mustLoad(t, LoadOPT, d)
		for i, c := range cases.Tokenizer {
			eqIDs(t, fmt.Sprintf("%s tokenizer %d: EncodeWith(%q, AllSpecial)", d, i, c.Text), tok.EncodeWith(c.Text, all), c.IDs)
			eqIDs(t, fmt.Sprintf("%s tokenizer %d: LoadOPT", d, i), direct.EncodeWith(c.Text, all), c.IDs)
			eqText(t, fmt.Sprintf("%s tokenizer %d: Decode", d, i), tok.Decode(c.IDs, true), c.Decoded)
		}
		for i, c := range cases.Prompted {
			eqIDs(t, fmt.Sprintf("%s prompt %d", d, i), tok.EncodeWith(c.Prompt, all), c.PromptIDs)
		}
		eqIDs(t, "teacher-forced text", tok.EncodeWith(cases.TeacherForced.Text, all), cases.TeacherForced.IDs)
		for _, group := range [][]gen{cases.Unconditional, cases.Prompted, cases.Beam} {
			for i, c := range group {
				eqText(t, fmt.Sprintf("%s generation %d", d, i), tok.Decode(c.IDs, true), c.Text)
			}
		}
	}
}
