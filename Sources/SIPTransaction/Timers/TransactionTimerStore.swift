/// A queue that starts and cancels the timers of transactions, each known by a `Transaction`
/// value (``TimerQueue``: a number or key; ``OwnedTimerQueue``: the object kept with it), and so
/// can take the timer actions a machine asks for (``apply(_:for:holding:)``).
@usableFromInline package protocol TransactionTimerStore {
    /// What names a transaction to this queue.
    associatedtype Transaction

    /// Starts `timer` to fire `delay` from now, replacing a pending one of that kind.
    mutating func start(_ timer: TransactionTimer, for transaction: Transaction, after delay: Duration)
    /// Cancels `timer` if it is pending.
    mutating func cancel(_ timer: TransactionTimer, for transaction: Transaction)
    /// Cancels every pending timer of the transaction (it terminated).
    mutating func cancelAll(for transaction: Transaction)
}

extension TransactionTimerStore {
    /// Applies the timer actions of one event of `transaction`: starts, cancels, and on
    /// ``TransactionAction/terminated`` cancels all its timers. Other actions are the caller's.
    ///
    /// A start of the timer `held` is not applied but returned: the caller starts it later, if it
    /// is still wanted then (the stack holds a new INVITE's Trying timer until its core had it).
    @inlinable @discardableResult
    package mutating func apply(
        _ actions: TransactionActions, for transaction: Transaction,
        holding held: TransactionTimer? = nil
    ) -> Duration? {
        var heldDelay: Duration?
        for action in actions {
            switch action {
            case .startTimer(let t, let d) where t == held: heldDelay = d
            case .startTimer(let t, let d): start(t, for: transaction, after: d)
            case .cancelTimer(let t): cancel(t, for: transaction)
            case .terminated: cancelAll(for: transaction)
            case .send, .passToTU, .informTU: break
            }
        }
        return heldDelay
    }
}
