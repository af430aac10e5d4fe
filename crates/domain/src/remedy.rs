//! What a person does about a problem: the "Ação" column of the error table
//! of the Protheus RetailSales documentation (seed 001), one suggestion per
//! receipt code, and the same for outbound statuses and dead letters, in
//! English and Portuguese. The pending-item monitor shows these next to
//! each item.

use eai_protocol::Code;

/// A suggested action, in both languages the console speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advice {
    pub en: &'static str,
    pub pt: &'static str,
}

const fn advice(en: &'static str, pt: &'static str) -> Advice {
    Advice { en, pt }
}

/// The suggested action for an inbound envelope answered with `code`.
pub fn for_code(code: Code) -> Advice {
    match code {
        Code::InvalidJson | Code::InvalidEnvelope | Code::InvalidField => advice(
            "fix the field named in the message at the sender and send the envelope again",
            "corrigir no remetente o campo indicado na mensagem e reenviar",
        ),
        Code::UnsupportedTransaction | Code::UnsupportedVersion | Code::EventNotSupported => advice(
            "check the sender's Transaction, Version and Event: this worker takes ItemReserve, RetailSales and RetailSalesCancellation",
            "verificar Transaction, Version e Event do remetente: são aceitas ItemReserve, RetailSales e RetailSalesCancellation",
        ),
        Code::BranchNotFound => advice(
            "register the branch (eai import) or map the company (de/para Company), then retry",
            "cadastrar a filial (eai import) ou o de/para de Empresa e reprocessar",
        ),
        Code::ReserveTypeInvalid | Code::DocumentReserveMissing => advice(
            "fix ReserveType / DocumentReserve at the sender and send the reservation again",
            "corrigir ReserveType / DocumentReserve no remetente e reenviar a reserva",
        ),
        Code::ReserveBranchMismatch => advice(
            "check the item's ReserveBranch against the envelope's branch at the sender",
            "conferir no remetente o ReserveBranch do item com a filial da mensagem",
        ),
        Code::ProductNotFound => advice(
            "map the product (de/para Product) or import it, then retry",
            "fazer o de/para do produto ou cadastrá-lo e reprocessar",
        ),
        Code::ProductBlocked => advice(
            "unblock the product in the master data, then retry",
            "desbloquear o produto no cadastro e reprocessar",
        ),
        Code::WarehouseNotFound => advice(
            "map the warehouse (de/para Warehouse) or import it for the branch, then retry",
            "fazer o de/para do armazém ou cadastrá-lo na filial e reprocessar",
        ),
        Code::QuantityInvalid => advice(
            "fix the item's Quantity at the sender",
            "corrigir a quantidade (Quantity) do item no remetente",
        ),
        Code::LotNotFound | Code::LotExpired | Code::LotInsufficient => advice(
            "check the stock per lot (DetailedMessage lists what is available); load stock, then retry",
            "verificar o saldo por lote (DetailedMessage traz o disponível); dar entrada no estoque e reprocessar",
        ),
        Code::ReserveNotFound => advice(
            "integrate the ItemReserve first (or fix its de/para), then retry the sale",
            "integrar antes a reserva (ItemReserve) ou corrigir seu de/para e reprocessar a venda",
        ),
        Code::ReserveAlreadyUsed | Code::ReserveQuantityMismatch => advice(
            "check the reservation's quantity and whether it was already used or cancelled",
            "conferir a quantidade da reserva e se ela já foi usada ou cancelada",
        ),
        Code::ReserveWarehouseMismatch => advice(
            "send the reservation's warehouse in WarehouseInternalId (de/para Warehouse)",
            "informar em WarehouseInternalId o armazém da reserva (de/para de Armazém)",
        ),
        Code::DocumentMissing | Code::DocumentDuplicate => advice(
            "check DocumentCode at the sender: missing, or already used by another sale",
            "verificar o DocumentCode no remetente: ausente ou já usado por outra venda",
        ),
        Code::StationNotFound => advice(
            "register the station or map it (de/para Station); AUTOMATICO is the default",
            "cadastrar a estação ou seu de/para; o padrão é AUTOMATICO",
        ),
        Code::OperatorNotFound => advice(
            "register the operator or map it (de/para Operator), then retry",
            "cadastrar o operador ou seu de/para e reprocessar",
        ),
        Code::CustomerMissing | Code::CustomerNotFound => advice(
            "check CustomerVendorInternalId and map the customer (de/para Customer) or import it, then retry",
            "verificar CustomerVendorInternalId e fazer o de/para do cliente ou cadastrá-lo e reprocessar",
        ),
        Code::CustomerBlocked => advice(
            "unblock the customer in the master data, then retry",
            "desbloquear o cliente no cadastro e reprocessar",
        ),
        Code::CarrierNotFound => advice(
            "register the carrier or map it (de/para Carrier), then retry",
            "cadastrar a transportadora ou seu de/para e reprocessar",
        ),
        Code::IssueDateInvalid => advice(
            "fix IssueDateDocument at the sender",
            "corrigir IssueDateDocument no remetente",
        ),
        Code::IssueDateClosedPeriod => advice(
            "the period is closed: reopen it (closed_until of the branch) or fix IssueDateDocument",
            "o período está fechado: reabri-lo (closed_until da filial) ou corrigir IssueDateDocument",
        ),
        Code::TotalPriceZero | Code::NetPriceZero | Code::GrossPriceZero => advice(
            "fix TotalPrice / NetPrice / GrossPrice at the sender",
            "corrigir TotalPrice / NetPrice / GrossPrice no remetente",
        ),
        Code::ItemsMissing | Code::UnitPriceMissing | Code::OperationCodeMissing => advice(
            "fix ListOfSaleItem at the sender (ItemOrder, Quantity, UnitPrice, OperationCode)",
            "corrigir ListOfSaleItem no remetente (ItemOrder, Quantity, UnitPrice, OperationCode)",
        ),
        Code::TesNotFound => advice(
            "give the product a default TES or add an operation-code rule, then retry",
            "informar a TES padrão do produto ou uma regra de TES inteligente e reprocessar",
        ),
        Code::PaymentsMissing | Code::PaymentValueInvalid => advice(
            "fix ListOfSalePayment at the sender",
            "corrigir ListOfSalePayment no remetente",
        ),
        Code::PaymentMethodNotFound | Code::FinancialManagerNotFound => advice(
            "map the payment method / financial manager (de/para) or register it, then retry",
            "fazer o de/para da forma de pagamento / administradora ou cadastrá-la e reprocessar",
        ),
        Code::FreightMismatch | Code::IncreaseMismatch | Code::TotalsMismatch | Code::PaymentsMismatch => {
            advice(
                "fix the sale's totals at the sender: they do not add up",
                "corrigir os totais da venda no remetente: não fecham",
            )
        }
        Code::SaleNotFound => advice(
            "integrate the sale first (or fix its de/para), then retry the cancellation",
            "integrar antes a venda (ou corrigir seu de/para) e reprocessar o cancelamento",
        ),
        Code::SaleAlreadyCancelled => advice(
            "nothing to do: the sale was already cancelled; discard",
            "nada a fazer: a venda já estava cancelada; descartar",
        ),
        Code::TotalPriceInconsistent | Code::GrossPriceInconsistent | Code::CommodityPriceInconsistent => {
            advice(
                "nothing blocks the sale; tell the sender",
                "nada impede a venda; avisar o remetente",
            )
        }
        Code::ProcessingFailed => advice(
            "read the reason; fix what it names (database, locks), then retry",
            "ler o motivo; corrigir o que ele aponta (banco, bloqueios) e reprocessar",
        ),
        Code::DetailsTruncated => advice(
            "read the listed details first; fix them and retry",
            "ler primeiro os detalhes listados; corrigi-los e reprocessar",
        ),
    }
}

/// The suggested action for an outbound message left in `status`.
pub fn for_outbound(status: &str) -> Advice {
    match status {
        "blocked" => advice(
            "fix the destination's credentials, then unblock the destination (its messages go out again)",
            "corrigir as credenciais do destino e desbloqueá-lo (suas mensagens voltam a sair)",
        ),
        "rejected" => advice(
            "read the destination's answer; fix the data and retry, or discard",
            "ler a resposta do destino; corrigir os dados e reprocessar, ou descartar",
        ),
        "not_delivered" => advice(
            "the destination did not confirm in time: check whether it got it, then retry or discard",
            "o destino não confirmou a tempo: verificar se recebeu e reprocessar ou descartar",
        ),
        "failed" => advice(
            "check that the destination is reachable (destinations test), then retry",
            "verificar se o destino está acessível (testar conexão) e reprocessar",
        ),
        _ => advice("retry, or discard", "reprocessar ou descartar"),
    }
}

/// The suggested action for an error whose code this worker does not know.
pub const UNKNOWN: Advice = advice(
    "read the receipt's details, fix what they name, then retry",
    "ler os detalhes do recibo, corrigir o que apontam e reprocessar",
);

/// The suggested action for a sale parked until its reservations arrive.
pub const WAITING: Advice = advice(
    "nothing yet: it is retried by itself; integrate the ItemReserve it names if it never comes",
    "nada por enquanto: é tentada de novo sozinha; integrar a reserva indicada se ela não chegar",
);

/// The suggested action for a dead letter with `code` (an `x-eai-code`).
pub fn for_dead_letter(code: &str) -> Advice {
    match code {
        "PROCESSING_FAILED" => advice(
            "fix what the reason names, then retry its envelope (related); a replay only re-sends its stored receipt",
            "corrigir o que o motivo aponta e reprocessar a mensagem (related); reenviar só repete o recibo gravado",
        ),
        "RECEIPT_UNDELIVERABLE" => advice(
            "create the sender's reply queue or binding, then replay the receipt",
            "criar a fila ou o binding de resposta do remetente e reenviar o recibo",
        ),
        _ => advice(
            "the body is not an envelope that can be answered: have the sender fix it, then discard",
            "o conteúdo não é uma mensagem que possa ser respondida: o remetente deve corrigi-lo; depois descartar",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_an_action_in_both_languages_and_the_seed_s_examples_read_as_documented() {
        for code in Code::ALL {
            let advice = for_code(code);
            assert!(!advice.en.is_empty() && !advice.pt.is_empty(), "{code}");
            assert_ne!(advice.en, advice.pt, "{code}");
        }
        assert_eq!(
            for_code(Code::ProductNotFound).en,
            "map the product (de/para Product) or import it, then retry"
        );
        assert!(for_code(Code::LotInsufficient)
            .pt
            .contains("DetailedMessage"));
        assert!(for_outbound("blocked").en.contains("credentials"));
        assert!(for_dead_letter("INVALID_JSON").en.contains("discard"));
    }
}
