/*
 * conditions.js: evaluates the platform's conditions (docs/conditions.md) in the browser, so that a form
 * shows, hides, requires or locks a field as its values change. Its verdicts are those of the server's
 * compiler (lowcode_platform/rules/python.py); tests/vectors/conditions.json holds both to the same answers.
 *
 *   LowcodeConditions.evaluate(condition, facts, env) -> boolean
 *   LowcodeConditions.decimal(text) -> an exact number, for facts read from <input> values
 *
 * condition: as rules/javascript.py `browser_condition` writes it (the server has checked it; this script
 *   assumes it is well formed and throws on what it cannot read).
 * facts: the record's values by name, derived and system names included (`days_since_created`, `owner`);
 *   money and region fields as objects ({amount, currency}); numbers as JS numbers, `decimal()` results
 *   or {"$decimal": "12.30"}. An absent or null value, or one of another type, makes every comparison false.
 * env: rules/javascript.py `condition_environment`: {attributes: {name: {type, integer, item}},
 *   patterns: {mt: {pattern: ecmascriptSource}, imt: {...}}}.
 *
 * Numbers are exact decimals (a BigInt coefficient and a power of ten), computed as Python's decimal module
 * does there. No build step, no dependencies, no modules: a plain <script> defines window.LowcodeConditions.
 */
(function (root) {
  "use strict";

  const PRECISION = 120; // rules/python.py EXACT: sums, differences, products and quotients to 120 digits
  const QUOTIENT_EXPONENT = -20; // quotients are then rounded to 20 places, half away from zero
  const COMPARISONS = { $eq: "eq", $neq: "neq", $lt: "lt", $lte: "lte", $gt: "gt", $gte: "gte" };
  const ARITHMETIC = { $add: "add", $sub: "sub", $mul: "mul", $div: "div" };
  const NUMBER_TEXT = /^([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?$/;

  /** coefficient × 10^exponent; `integer` when Python would hold it as an int (not a Decimal). */
  class Decimal {
    constructor(coefficient, exponent, integer) {
      this.coefficient = coefficient;
      this.exponent = exponent;
      this.integer = integer;
      Object.freeze(this);
    }
    toString() {
      return `${this.coefficient}e${this.exponent}`;
    }
  }

  function parseNumber(text, integer) {
    const m = NUMBER_TEXT.exec(text);
    if (m === null || (m[2] === "" && !m[3])) {
      throw new TypeError(`LowcodeConditions.decimal: ${JSON.stringify(text)} is not a decimal number`);
    }
    const fraction = m[3] || "";
    const coefficient = BigInt(m[1] + (m[2] + fraction || "0"));
    return new Decimal(coefficient, Number(m[4] || 0) - fraction.length, integer);
  }

  /** A number written as text, exactly; an integer (as Python's json reads `12`) unless it has a point or exponent. */
  function decimal(text) {
    if (typeof text !== "string") throw new TypeError("LowcodeConditions.decimal takes text, e.g. \"12.30\"");
    return parseNumber(text, /^[+-]?[0-9]+$/.test(text));
  }

  function isRecord(value) {
    return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Decimal);
  }

  function own(object, key) {
    // Own keys only: a field may be called `constructor`.
    return Object.prototype.hasOwnProperty.call(object, key) ? object[key] : undefined;
  }

  /** {"$decimal": "12.30"}: how rules/javascript.py `browser_value` writes a number a double would change. */
  function isWrapped(value) {
    return isRecord(value) && typeof own(value, "$decimal") === "string" && Object.keys(value).length === 1;
  }

  /** The number a value holds, or undefined (missing). JS numbers are read from their shortest decimal form. */
  function numberOf(value) {
    if (value instanceof Decimal) return value;
    if (typeof value === "number") {
      return Number.isFinite(value) ? parseNumber(String(value), Number.isInteger(value)) : undefined;
    }
    if (typeof value === "bigint") return new Decimal(value, 0, true);
    return isWrapped(value) ? decimal(value.$decimal) : undefined;
  }

  // -- exact arithmetic -------------------------------------------------------------------------------

  const TEN = 10n;
  const abs = (n) => (n < 0n ? -n : n);
  const digits = (n) => abs(n).toString().length;
  const power = (n) => TEN ** BigInt(n);

  /** n / 10^places as an integer, rounded half to even or (`away`) half away from zero. */
  function shift(n, places, away) {
    const divisor = power(places);
    let quotient = n / divisor; // truncates toward zero
    const twice = abs(n % divisor) * 2n;
    if (twice > divisor || (twice === divisor && (away || quotient % 2n !== 0n))) quotient += n < 0n ? -1n : 1n;
    return quotient;
  }

  /** Both coefficients at the smaller exponent. */
  function align(a, b) {
    const exponent = Math.min(a.exponent, b.exponent);
    return [a.coefficient * power(a.exponent - exponent), b.coefficient * power(b.exponent - exponent), exponent];
  }

  function compareNumbers(a, b) {
    const [x, y] = align(a, b);
    return x < y ? -1 : x > y ? 1 : 0;
  }

  /** A sum, difference or product: exact for two integers, else rounded half to even to 120 digits. */
  function result(coefficient, exponent, integer) {
    const excess = digits(coefficient) - PRECISION;
    if (integer || excess <= 0) return new Decimal(coefficient, exponent, integer);
    return new Decimal(shift(coefficient, excess, false), exponent + excess, false);
  }

  /** Whole part, truncated toward zero (Python's int(Decimal)). */
  function truncate(a) {
    return a.exponent >= 0 ? a.coefficient * power(a.exponent) : a.coefficient / power(-a.exponent);
  }

  /** Python: Context(prec=120).divide(a, b).quantize(Decimal("1e-20"), ROUND_HALF_UP); undefined when too long. */
  function divideDecimals(a, b) {
    const n = abs(a.coefficient);
    const d = abs(b.coefficient);
    const negative = a.coefficient < 0n !== b.coefficient < 0n;
    let coefficient = 0n;
    let exponent = QUOTIENT_EXPONENT;
    if (n !== 0n) {
      // The quotient n/d lies in [10^adjusted, 10^(adjusted + 1)); keep 120 digits of it, half to even.
      let adjusted = digits(n) - digits(d);
      if (adjusted >= 0 ? n < d * power(adjusted) : n * power(-adjusted) < d) adjusted -= 1;
      const places = PRECISION - 1 - adjusted;
      const numerator = places >= 0 ? n * power(places) : n;
      const denominator = places >= 0 ? d : d * power(-places);
      let q = numerator / denominator;
      const twice = (numerator % denominator) * 2n;
      if (twice > denominator || (twice === denominator && q % 2n !== 0n)) q += 1n;
      exponent = a.exponent - b.exponent - places;
      coefficient = q;
    }
    // Then to 20 places, half away from zero (a second rounding, as Python does it).
    if (exponent < QUOTIENT_EXPONENT) coefficient = shift(coefficient, QUOTIENT_EXPONENT - exponent, true);
    else coefficient *= power(exponent - QUOTIENT_EXPONENT);
    if (digits(coefficient) > PRECISION) return undefined; // InvalidOperation in Python: the value is missing
    return new Decimal(negative ? -coefficient : coefficient, QUOTIENT_EXPONENT, false);
  }

  function calculate(op, a, b, integerDivision) {
    if (op === "div") {
      if (b.coefficient === 0n) return undefined; // division by zero: missing, so the comparison is false
      if (!integerDivision) return divideDecimals(a, b);
      const divisor = truncate(b);
      // Python truncates both sides first; a divisor that truncates to 0 would raise there (no integer field holds one)
      return divisor === 0n ? undefined : new Decimal(truncate(a) / divisor, 0, true);
    }
    const integer = a.integer && b.integer;
    if (op === "mul") return result(a.coefficient * b.coefficient, a.exponent + b.exponent, integer);
    const [x, y, exponent] = align(a, b);
    return result(op === "add" ? x + y : x - y, exponent, integer);
  }

  // -- text -----------------------------------------------------------------------------------------

  /** Order by code point, as Python compares str (JS `<` compares UTF-16 units: wrong for astral characters). */
  function compareText(a, b) {
    if (a === b) return 0;
    let i = 0;
    while (i < a.length && i < b.length) {
      const x = a.codePointAt(i);
      const y = b.codePointAt(i);
      if (x !== y) return x < y ? -1 : 1;
      i += x > 0xffff ? 2 : 1; // equal prefixes: both strings step alike
    }
    return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
  }

  function lowerAscii(text) {
    return text.replace(/[A-Z]+/g, (letters) => letters.toLowerCase());
  }

  const compiled = new Map();

  function regex(source) {
    let pattern = compiled.get(source);
    if (pattern === undefined) {
      pattern = new RegExp(source, "su");
      compiled.set(source, pattern);
    }
    return pattern;
  }

  // -- evaluation -----------------------------------------------------------------------------------

  function onlyKey(object) {
    const keys = Object.keys(object);
    if (keys.length !== 1) throw new TypeError(`LowcodeConditions: expected one key, found ${JSON.stringify(object)}`);
    return [keys[0], object[keys[0]]];
  }

  /** Reading one record's names; inside $iany/$iall, `$i` is `element`, of the list's `item` type. */
  class Context {
    constructor(facts, env, element, item) {
      this.facts = facts;
      this.env = env;
      this.element = element;
      this.item = item;
    }

    attribute(name) {
      const attribute = name === "$i" ? this.item : own(this.env.attributes, name);
      if (!attribute) {
        throw new TypeError(`LowcodeConditions: '${name}' is not in env.attributes; ` +
          "build env with condition_environment for the condition's entity");
      }
      return attribute;
    }

    /** The value of `name` whatever its type, or undefined when absent or null. */
    raw(name) {
      let value;
      if (name === "$i") {
        value = this.element;
      } else {
        const [head, ...parts] = name.split(".");
        value = own(this.facts, head);
        for (const part of parts) value = isRecord(value) ? own(value, part) : undefined;
      }
      return value === null ? undefined : value;
    }

    /** The value of `name` if it is of the name's type (numbers as Decimal), else undefined. */
    typed(name) {
      const type = this.attribute(name).type;
      const value = this.raw(name);
      if (type === "number") return numberOf(value);
      if (type === "string") return typeof value === "string" ? value : undefined;
      if (type === "boolean") return typeof value === "boolean" ? value : undefined;
      return undefined; // lists and objects are never compared
    }

    /** [value or undefined, whether it is integer-typed] of a right-hand side (rules/syntax.py `_integer`). */
    operand(right) {
      if (isRecord(right) && !isWrapped(right)) {
        const [key, body] = onlyKey(right);
        if (key === "$m") return [this.typed(body), this.attribute(body).integer];
        const left = this.operand(body.$l);
        const other = this.operand(body.$r);
        const integer = left[1] && other[1];
        const value = left[0] === undefined || other[0] === undefined
          ? undefined : calculate(ARITHMETIC[key], left[0], other[0], integer);
        return [value, integer];
      }
      if (typeof right === "string" || typeof right === "boolean") return [right, false];
      const number = numberOf(right);
      return [number, number !== undefined && number.integer];
    }

    compare(op, name, right) {
      const value = this.typed(name);
      if (value === undefined) return false;
      const other = this.operand(right)[0];
      if (other === undefined) return false;
      let order;
      if (value instanceof Decimal) order = other instanceof Decimal ? compareNumbers(value, other) : NaN;
      else if (typeof value === "string") order = typeof other === "string" ? compareText(value, other) : NaN;
      else order = value === other ? 0 : 1; // booleans: $eq and $neq only
      if (Number.isNaN(order)) return false;
      switch (op) {
        case "eq": return order === 0;
        case "neq": return order !== 0;
        case "lt": return order < 0;
        case "lte": return order <= 0;
        case "gt": return order > 0;
        default: return order >= 0;
      }
    }

    match(key, name, pattern) {
      const value = this.typed(name);
      if (typeof value !== "string") return false;
      const kind = key.slice(1);
      const source = own(this.env.patterns[kind] || {}, pattern);
      if (source === undefined) {
        throw new TypeError(`LowcodeConditions: no ${key} pattern ${JSON.stringify(pattern)} in env.patterns; ` +
          "build env with condition_environment over this condition");
      }
      return regex(source).test(kind === "imt" ? lowerAscii(value) : value);
    }

    each(key, name, inner) {
      const list = own(this.facts, name);
      if (!Array.isArray(list) || list.length === 0) return false; // $iall on [] is false, as on the server
      const item = this.attribute(name).item;
      const holds = (element) => new Context(this.facts, this.env, element, item).test(inner);
      return key === "$iany" ? list.some(holds) : list.every(holds);
    }

    test(condition) {
      const [key, body] = onlyKey(condition);
      switch (key) {
        case "$and": return body.every((child) => this.test(child));
        case "$or": return body.some((child) => this.test(child));
        case "$ex": return this.raw(onlyKey(body)[0]) !== undefined;
        case "$nex": return this.raw(onlyKey(body)[0]) === undefined;
        case "$mt": case "$imt": return this.match(key, ...onlyKey(body));
        case "$iany": case "$iall": return this.each(key, ...onlyKey(body));
        default:
          if (Object.prototype.hasOwnProperty.call(COMPARISONS, key)) {
            return this.compare(COMPARISONS[key], ...onlyKey(body));
          }
          return this.compare("eq", key, body); // {"field": value} is $eq
      }
    }
  }

  /** Whether `condition` holds for `facts`, with the verdict rules/python.py `to_python` gives. */
  function evaluate(condition, facts, env) {
    return new Context(facts || {}, env, undefined, undefined).test(condition);
  }

  root.LowcodeConditions = Object.freeze({ evaluate, decimal });
})(typeof window !== "undefined" ? window : globalThis);
