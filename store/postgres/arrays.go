package postgres

import "github.com/jackc/pgx/v5/pgtype"

// columnArray is one column of a batched write's row-major values, bound
// as a PostgreSQL array without copying it: pgx asks Index for each
// element, and the value is already boxed in the row, so encoding the
// array allocates nothing per value. (A []string or []*string costs pgx
// an allocation per element; a bulk job of 1,000 cards binds some 60,000
// values a batch.) A nil value is a NULL element.
type columnArray struct {
	args             []any
	col, width, rows int
	// elem is a value of the elements' Go type, for pgx's plan.
	elem any
}

// bindColumn is the store's sqlstore.ArrayColumn.
func bindColumn(args []any, c, width, rows int, typ string) any {
	a := columnArray{args: args, col: c, width: width, rows: rows, elem: ""}
	switch typ {
	case "int8":
		a.elem = int64(0)
	case "bool":
		a.elem = false
	}
	return a
}

func (a columnArray) Dimensions() []pgtype.ArrayDimension {
	return []pgtype.ArrayDimension{{Length: int32(a.rows), LowerBound: 1}}
}

func (a columnArray) Index(i int) any { return a.args[i*a.width+a.col] }

func (a columnArray) IndexType() any { return a.elem }
