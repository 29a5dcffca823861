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
