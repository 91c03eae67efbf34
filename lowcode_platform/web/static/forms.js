/* Live form behaviour: shows, hides, locks and marks required the fields whose visible_if, readonly_if and
 * required_if conditions change as the user types, by evaluating the same condition JSON the server checks
 * (with conditions.js). Without this script the page still works: the server decides on each submit. */
(function () {
  "use strict";
  var L = window.LowcodeConditions;
  if (!L) return;
  /* Each element marked `data-lowcode-form` holds one record's fields; on a page with several (a conversion),
   * `data-prefix` starts its input names and `data-source` names the script element holding its conditions. */
  document.querySelectorAll("[data-lowcode-form]").forEach(function (form) {
    var node = document.getElementById(form.dataset.source || "lowcode-form-data");
    if (node) live(form, JSON.parse(node.textContent), form.dataset.prefix || "");
  });

  function live(form, payload, prefix) {
    var conditions = payload.conditions;
    var types = payload.types;
    var env = { attributes: conditions.attributes, patterns: conditions.patterns };
    var INTEGER = /^-?[0-9]{1,16}$/;
    var DECIMAL = /^-?[0-9]{1,16}(\.[0-9]{1,20})?$/;

    function named(name) {
      return Array.prototype.filter.call(form.querySelectorAll("[name]"), function (e) { return e.name === name; });
    }

    /* The UTC offset (minutes) of `zone` at a moment, from the browser's time zone data. */
    function offsetAt(millis, zone) {
      var parts = {};
      new Intl.DateTimeFormat("en-US", {
        timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", second: "2-digit"
      }).formatToParts(new Date(millis)).forEach(function (p) { parts[p.type] = p.value; });
      var wall = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second);
      return (wall - millis) / 60000;
    }

    /* A datetime-local input's text, read in the tenant's time zone, as the server stores it: UTC text with
     * milliseconds, which compares with the conditions' date-time constants. */
    function moment(text, zone) {
      var m = /^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,3}))?)?$/.exec(text);
      if (!m) return undefined;
      var wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0), +((m[7] || "0") + "00").slice(0, 3));
      var utc = wall - offsetAt(wall, zone) * 60000;
      utc = wall - offsetAt(utc, zone) * 60000;  // the offset in force at the moment itself
      var date = new Date(utc);
      return isNaN(date.getTime()) ? undefined : date.toISOString();
    }

    function number(text, type) {
      text = text.replace(/,/g, "").trim();
      return (type === "integer" ? INTEGER : DECIMAL).test(text) ? L.decimal(text) : undefined;
    }

    /* The value a field's inputs hold, as the server would read the post; undefined when empty. */
    function read(key, type) {
      var name = prefix + "f." + key;
      if (type === "money" || type === "region") {
        var parts = type === "money" ? ["amount", "currency"] : ["province", "city"];
        var first = named(name + "." + parts[0])[0], second = named(name + "." + parts[1])[0];
        if (!first || !first.value.trim()) return undefined;
        if (type === "region") {
          var region = { province: first.value.trim() };
          if (second && second.value.trim()) region.city = second.value.trim();
          return region;
        }
        var amount = number(first.value, "decimal");
        return amount === undefined ? undefined : { amount: amount, currency: second ? second.value : undefined };
      }
      var inputs = named(name).filter(function (e) { return e.type !== "hidden"; });
      if (!inputs.length) return null;  // not an input (a masked value): the server's facts hold what is known
      if (type === "multi_enum") {
        var chosen = [];
        inputs.forEach(function (e) {
          if (e.tagName === "SELECT") {
            Array.prototype.forEach.call(e.selectedOptions, function (o) { chosen.push(o.value); });
          } else if (e.checked) {
            chosen.push(e.value);
          }
        });
        return chosen.length ? chosen : undefined;
      }
      var text;
      if (inputs[0].type === "radio" || inputs[0].type === "checkbox") {
        var checked = inputs.filter(function (e) { return e.checked; })[0];
        if (inputs[0].type === "checkbox" && type === "boolean") return !!checked;
        if (!checked) return undefined;
        text = checked.value;
      } else {
        text = inputs[0].value;
      }
      if (type === "boolean") return text === "true" ? true : text === "false" ? false : undefined;
      if (type !== "long_text") text = text.trim();
      if (!text) return undefined;
      if (type === "integer" || type === "decimal") return number(text, type);
      if (type === "datetime") return moment(text, payload.timezone);
      return text;
    }

    function facts() {
      var values = Object.assign({}, conditions.facts);
      Object.keys(types).forEach(function (key) {
        var value = read(key, types[key]);
        if (value === undefined) delete values[key];
        else if (value !== null) values[key] = value;
      });
      return values;
    }

    function holds(condition, values) {
      return condition !== undefined && L.evaluate(condition, values, env);
    }

    function update() {
      var values = facts();
      Object.keys(conditions.fields).forEach(function (key) {
        var rules = conditions.fields[key];
        var box = form.querySelector('[data-field="' + key + '"]');
        if (!box) return;
        var visible = rules.visible_if === undefined || holds(rules.visible_if, values);
        var readonly = box.dataset.readonly === "always" || holds(rules.readonly_if, values);
        var required = visible && !readonly && (box.dataset.needed === "1" || holds(rules.required_if, values));
        box.hidden = !visible;
        if (rules.readonly_if !== undefined && box.dataset.readonly !== "always") {
          box.querySelectorAll("input, select, textarea").forEach(function (e) { e.disabled = readonly; });
        }
        var mark = box.querySelector(".required-mark");
        if (mark) mark.hidden = !required;
      });
    }

    /* Region cascade: a city list offers only the chosen province's cities. */
    function cascade() {
      form.querySelectorAll("select[data-cities-of]").forEach(function (cities) {
        var province = named(cities.dataset.citiesOf)[0];
        var chosen = province ? province.value : "";
        cities.querySelectorAll("optgroup").forEach(function (group) {
          var mine = group.dataset.province === chosen;
          group.hidden = !mine;
          group.disabled = !mine;
        });
        var selected = cities.selectedOptions[0];
        if (selected && selected.parentNode.tagName === "OPTGROUP" && selected.parentNode.disabled) cities.value = "";
      });
    }

    form.addEventListener("input", update);
    form.addEventListener("change", function () { cascade(); update(); });
    cascade();
    update();
  }
})();
