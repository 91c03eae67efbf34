// react-jsonschema-form configured as a real client of our form endpoints would configure it, exposed to
// tests/browser/test_rjsf_interop.py as `window.RJSFHarness`:
//   render(schema, uiSchema, formData) -> {reactErrors, consoleErrors, consoleWarnings, missing, valid, errors}
//   validate(schema, uiSchema, formData) -> {errors, consoleErrors, consoleWarnings}
// It only reports what RJSF does; the Python test decides what counts as a failure.
import { Component, createElement as h, createRef } from 'react';
import { flushSync } from 'react-dom';
import { createRoot } from 'react-dom/client';
import Form from '@rjsf/core';
import { customizeValidator } from '@rjsf/validator-ajv8';
// Our schemas declare `$schema: .../draft/2020-12/schema`; Ajv's default class knows draft-07 only and
// refuses to compile them, so a client of 2020-12 schemas passes Ajv2020 (the RJSF docs' own advice).
import Ajv2020 from 'ajv/dist/2020';

const validator = customizeValidator({ AjvClass: Ajv2020 });

// Everything logged while a form renders or validates; React logs errors it catches via console.error.
const logged = { error: [], warn: [] };
for (const level of Object.keys(logged)) {
  const original = console[level].bind(console);
  console[level] = (...args) => {
    logged[level].push(args.map(describe).join(' '));
    original(...args);
  };
}
window.addEventListener('error', (event) => logged.error.push(`uncaught: ${describe(event.error ?? event.message)}`));
window.addEventListener('unhandledrejection', (event) => logged.error.push(`unhandled rejection: ${describe(event.reason)}`));

function describe(value) {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

class Boundary extends Component {
  constructor(props) {
    super(props);
    this.state = { failed: false };
  }

  static getDerivedStateFromError() {
    return { failed: true };
  }

  componentDidCatch(error, info) {
    this.props.onError(`${describe(error)}${info && info.componentStack ? `\n${info.componentStack.trim()}` : ''}`);
  }

  render() {
    return this.state.failed ? null : this.props.children;
  }
}

function plainErrors(errors) {
  return (errors || []).map(({ name, property, message, params, stack, schemaPath }) => ({ name, property, message, params, stack, schemaPath }));
}

let root = null;
let container = null;

function render(schema, uiSchema, formData) {
  if (root !== null) {
    flushSync(() => root.unmount());
    container.remove();
  }
  logged.error.length = 0;
  logged.warn.length = 0;
  container = document.createElement('div');
  container.id = 'form-under-test';
  document.body.appendChild(container);
  root = createRoot(container);

  const reactErrors = [];
  const form = createRef();
  let reported = [];
  try {
    flushSync(() => {
      root.render(
        h(Boundary, { onError: (text) => reactErrors.push(text) },
          h(Form, {
            ref: form, schema, uiSchema, formData, validator, noHtml5Validate: true,
            onError: (errors) => { reported = errors; },
          })),
      );
    });
  } catch (error) {
    reactErrors.push(`render threw ${describe(error)}`);
  }

  let valid = null;
  if (form.current) {
    try {
      flushSync(() => { valid = form.current.validateForm(); });
    } catch (error) {
      reactErrors.push(`validateForm threw ${describe(error)}`);
    }
  }
  // Every field the uiSchema orders must be on the page; RJSF gives each the id `root_<key>`.
  const order = (uiSchema && uiSchema['ui:order']) || [];
  const missing = order.filter((key) => key !== '*' && !container.querySelector(`[id="root_${key}"]`));
  return {
    reactErrors,
    consoleErrors: [...logged.error],
    consoleWarnings: [...logged.warn],
    missing,
    valid,
    errors: plainErrors(reported),
  };
}

function validate(schema, uiSchema, formData) {
  logged.error.length = 0;
  logged.warn.length = 0;
  const { errors } = validator.validateFormData(formData, schema, undefined, undefined, uiSchema);
  return { errors: plainErrors(errors), consoleErrors: [...logged.error], consoleWarnings: [...logged.warn] };
}

window.RJSFHarness = { render, validate };
