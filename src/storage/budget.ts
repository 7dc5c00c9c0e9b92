/**
 * Operations an invocation may still make (D1 statements, Durable Object calls, R2 requests), for
 * work that must stop short of the platform's per-invocation limit and continue in the next one.
 */
export class Budget {
  private spent = 0;

  constructor(
    private readonly limit: number,
    private readonly parent?: Budget,
  ) {}

  get used(): number {
    return this.spent;
  }

  get left(): number {
    const own = this.limit - this.spent;
    return this.parent ? Math.min(own, this.parent.left) : own;
  }

  /**
   * Spends one operation if more than `keep` are left. The `keep` held back are for an operation
   * that must follow the ones spent here (say, deleting the rows of the runs already purged).
   */
  take(keep = 0): boolean {
    if (this.left <= keep) return false;
    this.spent++;
    if (this.parent) this.parent.charge();
    return true;
  }

  /** A part of this budget, at most `limit`: what it spends is spent here too. */
  share(limit: number): Budget {
    return new Budget(limit, this);
  }

  private charge() {
    this.spent++;
    if (this.parent) this.parent.charge();
  }
}
