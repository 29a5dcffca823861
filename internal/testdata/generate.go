package testdata

// GenerateSettings are the generate() arguments of a fixture's cases
// (the "generate" objects of cases.json).
type GenerateSettings struct {
	MaxNewTokens  int      `json:"max_new_tokens"`
	MinNewTokens  int      `json:"min_new_tokens"`
	NumBeams      int      `json:"num_beams"`
	LengthPenalty *float64 `json:"length_penalty"`
	EarlyStopping *bool    `json:"early_stopping"`
	DoSample      bool     `json:"do_sample"`
}

// Generation is one expected generation of a fixture's cases.json: the
// prompt (text and ids), the ids and text transformers generated, and the
// smallest margin between the chosen token's score and the runner-up's
// over its steps.
type Generation struct {
	Prompt    string  `json:"prompt"`
	PromptIDs []int   `json:"prompt_ids"`
	IDs       []int   `json:"ids"`
	Text      string  `json:"text"`
	MinMargin float64 `json:"min_margin"`
}
