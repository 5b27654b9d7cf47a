import * as tf from '@tensorflow/tfjs-core';

export interface ParameterEntry {
  /** Dotted name, e.g. `backbone.layer1.0.conv1.weight`. */
  name: string;
  variable: tf.Variable;
}

interface StoreState {
  entries: Map<string, tf.Variable>;
}

/**
 * Named model parameters: every det model keeps its variables here under dotted names
 * (torchvision-style), so checkpoints, weight import, freezing and optimisers address
 * them by name. Variables are created unnamed in tfjs' registry: two models may share
 * parameter names.
 */
export class ParameterStore {
  readonly prefix: string;
  private readonly state: StoreState;

  constructor(options: { prefix?: string } = {}) {
    this.prefix = options.prefix ?? '';
    this.state = { entries: new Map() };
  }

  private static child(state: StoreState, prefix: string): ParameterStore {
    const store = new ParameterStore({ prefix });
    (store as unknown as { state: StoreState }).state = state;
    return store;
  }

  /** A view of the same store whose names are prefixed by `name.`. */
  scope(name: string): ParameterStore {
    return ParameterStore.child(this.state, `${this.prefix}${name}.`);
  }

  /** Creates (and owns) a variable; `initialValue` is disposed after it is copied. */
  create(
    name: string,
    initialValue: tf.Tensor,
    options: { trainable?: boolean } = {},
  ): tf.Variable {
    const fullName = `${this.prefix}${name}`;
    if (this.state.entries.has(fullName)) {
      initialValue.dispose();
      throw new Error(`Parameter '${fullName}' already exists`);
    }
    const variable = tf.variable(initialValue, options.trainable ?? true);
    initialValue.dispose();
    this.state.entries.set(fullName, variable);
    return variable;
  }

  /** The variable with this full name, or an error naming the closest prefix. */
  get(fullName: string): tf.Variable {
    const variable = this.state.entries.get(fullName);
    if (!variable) throw new Error(`No parameter named '${fullName}'`);
    return variable;
  }

  has(fullName: string): boolean {
    return this.state.entries.has(fullName);
  }

  /** All parameters under this scope, in creation order. */
  entries(): ParameterEntry[] {
    const out: ParameterEntry[] = [];
    for (const [name, variable] of this.state.entries) {
      if (name.startsWith(this.prefix)) out.push({ name, variable });
    }
    return out;
  }

  /** The trainable variables under this scope, in creation order. */
  trainableVariables(): tf.Variable[] {
    return this.entries()
      .filter((entry) => entry.variable.trainable)
      .map((entry) => entry.variable);
  }

  /** Number of scalar parameters under this scope (trainable only by default). */
  count(options: { trainableOnly?: boolean } = {}): number {
    const trainableOnly = options.trainableOnly ?? true;
    return this.entries()
      .filter((entry) => !trainableOnly || entry.variable.trainable)
      .reduce((sum, entry) => sum + entry.variable.size, 0);
  }

  /** Freezes or unfreezes every parameter whose name starts with `prefix` (relative to this scope). */
  setTrainable(prefix: string, trainable: boolean): void {
    const full = `${this.prefix}${prefix}`;
    for (const entry of this.entries()) {
      if (entry.name.startsWith(full)) entry.variable.trainable = trainable;
    }
  }

  /** Disposes every variable under this scope. */
  dispose(): void {
    for (const entry of this.entries()) {
      entry.variable.dispose();
      this.state.entries.delete(entry.name);
    }
  }
}
